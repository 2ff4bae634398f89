description = [[Attack (test script): capture from a libpcap "device" that is no network interface (USB traffic)]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
-- What happened, without the chunk name and line a Lua error carries.
local function seen(ok, ...)
  local out = {tostring(ok)}
  for i = 1, select("#", ...) do out[#out + 1] = (tostring((select(i, ...))):gsub("^[^\n]-:%d+: ", "")) end
  return table.concat(out, " | ")
end
local nmap = require "nmap"
action = function(host, port)
  local s = nmap.new_socket()
  return seen(pcall(s.pcap_open, s, "usbmon0", 256, false, ""))
end
