description = [[Attack (test script): allocate more memory than the process may have]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
-- What happened, without the chunk name and line a Lua error carries.
local function seen(ok, ...)
  local out = {tostring(ok)}
  for i = 1, select("#", ...) do out[#out + 1] = (tostring((select(i, ...))):gsub("^[^\n]-:%d+: ", "")) end
  return table.concat(out, " | ")
end
local nmap = require "nmap"
local stdnse = require "stdnse"
action = function(host, port)
  local args = nmap.registry.args
  local ok, err = pcall(function() local s = string.rep("x", 1 << 28) return s .. s .. s .. s .. s .. s .. s .. s end)
  -- The failed allocation's 256 MiB may still be uncollected: free it before the
  -- report needs memory of its own (else the report itself can fail, by chance).
  collectgarbage()
  return seen(ok, err)
end
