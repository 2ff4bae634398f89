description = "Test script: every instance counts itself into the registries across a yield point."
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  local before = host.registry.hits or 0
  host.registry.hits = before + 1
  nmap.registry.engine_total = (nmap.registry.engine_total or 0) + 1
  local seen = nmap.registry.engine_ports or {}
  table.insert(seen, port.number)
  nmap.registry.engine_ports = seen
  stdnse.sleep(0.05)
  host.registry.after_sleep = (host.registry.after_sleep or 0) + 1
end
