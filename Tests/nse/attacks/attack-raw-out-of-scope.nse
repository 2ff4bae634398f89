description = [[Attack (test script): send a raw IP packet to a host not under scan]]
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
  -- A UDP packet to the canary, from this host's address.
  local a, b, c, d = nmap.registry.args.canary:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  local dst = string.char(tonumber(a), tonumber(b), tonumber(c), tonumber(d))
  local port_bytes = string.pack(">I2", tonumber(nmap.registry.args.canaryport))
  local packet = "\x45\x00\x00\x21\x00\x01\x00\x00\x40\x11\x00\x00" .. host.bin_ip .. dst
    .. "\x9c\x40" .. port_bytes .. "\x00\x0d\x00\x00" .. "pwned"
  local dnet = nmap.new_dnet()
  local ok, err = pcall(dnet.ip_open, dnet)
  if not ok then return seen(ok, err) end
  return seen(dnet:ip_send(packet))
end
