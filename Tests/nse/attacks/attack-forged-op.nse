description = [[Attack (test script): send the broker a frame with an op number nobody knows]]
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
  local rt
  for i = 1, 50 do
    local name, value = debug.getupvalue(nmap.log_write, i)
    if name == nil then break end
    if name == "rt" then rt = value end
  end
  return seen(pcall(rt.notify, 99, "x"))
end
