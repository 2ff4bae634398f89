local nmap = require "nmap"

description = [[nsebox's test: tries to send a raw IP packet to an address that is not under scan.]]
author = "nsebox tests"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return nmap.is_privileged() end

action = function(host)
  -- An IPv4 header (no options, protocol 253 "experimental") to the gateway side's .1 address.
  local a, b, c = host.ip:match("^(%d+)%.(%d+)%.(%d+)%.")
  local dst = string.char(tonumber(a), tonumber(b), tonumber(c), 1)
  local packet = "\x45\x00\x00\x14\x00\x01\x00\x00\x40\xfd\x00\x00" .. host.bin_ip_src .. dst
  local dnet = nmap.new_dnet()
  dnet:ip_open()
  local ok, err = dnet:ip_send(packet)
  dnet:ip_close()
  if ok then return "sent" end
  return "refused: " .. tostring(err)
end
