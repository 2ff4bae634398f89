description = "Test script: a postrule that reads the global registry."
categories = {"safe"}
dependencies = {"reg-writer"}
postrule = function() return true end
action = function()
  local nmap = require "nmap"
  local ports = nmap.registry.engine_ports or {}
  table.sort(ports)
  local n = 0
  for _ in pairs(nmap.registry) do n = n + 1 end
  return string.format("total=%s ports=%d first=%s sorted=%s type=%s", tostring(nmap.registry.engine_total),
    #ports, tostring(ports[1]), tostring(ports[1] and ports[1] <= ports[#ports]), SCRIPT_TYPE)
end
