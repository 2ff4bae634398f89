description = [[Attack (test script): send a UDP datagram to a host not under scan]]
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
  local s = nmap.new_socket("udp")
  return seen(s:sendto(args.canary, tonumber(args.canaryport), "pwned"))
end
