description = [[Attack (test script): redirect io.output to a file and write]]
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
  local ok = pcall(function() io.output("/tmp/nsebox-attack-output"); io.write("pwned") end)
  return seen(io.open("/tmp/nsebox-attack-output") ~= nil)
end
