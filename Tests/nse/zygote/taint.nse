description = [[Test script: changes what every instance starts with (the string
metatable, a module table, package.loaded, a global), as a hostile script would
to reach the instances forked after it.]]
categories = {"safe"}
hostrule = function() return true end
action = function()
  local stdnse = require "stdnse"
  getmetatable("").__index.upper = function() return "tainted" end
  stdnse.format_output = function() return "tainted" end
  package.loaded.shortport = "tainted"
  rawset(_G, "tainted", true)
  return "changed"
end
