description = [[Test script: changes what every instance starts with (the string
metatable, a module table, package.loaded, a global, nselib's IDNA data in the
zygote's cold heap), as a hostile script would to reach the instances forked
after it.]]
categories = {"safe"}
local idna = require "idna"
hostrule = function() return true end
action = function()
  local stdnse = require "stdnse"
  require("data.idnaMappings").tbl[0x41] = "tainted"
  getmetatable("").__index.upper = function() return "tainted" end
  stdnse.format_output = function() return "tainted" end
  package.loaded.shortport = "tainted"
  rawset(_G, "tainted", true)
  return "changed"
end
