description = [[Attack (test script): send a connect whose arguments have the wrong types]]
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
  local rt, OP
  for i = 1, 50 do
    local name, value = debug.getupvalue(nmap.log_write, i)
    if name == nil then break end
    if name == "rt" then rt = value end
  end
  rt.notify(10, "not a socket number", 1, 2)
  rt.notify(50, "print", "the broker did not end me")
  return "should not appear: survived"
end
