description = [[Attack (test script): flood the broker with sleeps from ten thousand threads]]
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
  for i = 1, 10000 do stdnse.new_thread(function() stdnse.sleep(30) end) end
  stdnse.sleep(30)
  return "should not appear: the flood was served"
end
