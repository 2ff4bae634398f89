description = "Test script: name resolution, DNS servers and the loopback interface as the nmap module reports them."
categories = {"safe"}
hostrule = function(host) return host.ip == "127.0.0.1" end
action = function()
  local nmap = require "nmap"
  local out = {}
  local ok, addrs = nmap.resolve("localhost", "inet")
  out[#out + 1] = "resolve: " .. tostring(ok) .. " " .. (ok and table.concat(addrs, ",") or tostring(addrs))
  -- (No lookup of a name outside /etc/hosts: tests send nothing beyond loopback.)
  out[#out + 1] = "dns servers: " .. table.concat(nmap.get_dns_servers() or {}, ",")
  local lo = nmap.get_interface_info("lo")
  out[#out + 1] = string.format("lo: %s %s/%s %s %s mtu>0=%s", tostring(lo.device), tostring(lo.address), tostring(lo.netmask),
    tostring(lo.link), tostring(lo.up), tostring((lo.mtu or 0) > 0))
  local found = false
  for _, i in ipairs(nmap.list_interfaces()) do if i.device == "lo" and i.address == "127.0.0.1" then found = true end end
  out[#out + 1] = "listed: " .. tostring(found)
  out[#out + 1] = "socket stats: " .. tostring(nmap.socket.get_stats().connect_waiting)
  return table.concat(out, "\n")
end
