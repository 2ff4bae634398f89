description = [[Test script: runs after taint.nse (a later runlevel) and reports
whether anything it changed reached this instance.]]
categories = {"safe"}
dependencies = {"taint"}
local idna = require "idna"
hostrule = function() return true end
action = function()
  local stdnse = require "stdnse"
  local seen = {}
  if require("data.idnaMappings").tbl[0x41] == "tainted" then seen[#seen + 1] = "nselib's data" end
  if ("x"):upper() ~= "X" then seen[#seen + 1] = "string metatable" end
  if stdnse.format_output(true, "x") == "tainted" then seen[#seen + 1] = "stdnse" end
  if package.loaded.shortport == "tainted" then seen[#seen + 1] = "package.loaded" end
  if rawget(_G, "tainted") then seen[#seen + 1] = "a global" end
  return #seen == 0 and "clean" or ("tainted: " .. table.concat(seen, ", "))
end
