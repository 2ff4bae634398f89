description = "Test script: instances share a mutex keyed by a table in host.registry, as sslcert does."
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  host.registry.shared_key = host.registry.shared_key or {}
  local m = nmap.mutex(host.registry.shared_key)
  m "lock"
  local inside = (host.registry.table_inside or 0) + 1
  host.registry.table_inside = inside
  if inside > (host.registry.table_max or 0) then host.registry.table_max = inside end
  stdnse.sleep(0.02)
  host.registry.table_inside = host.registry.table_inside - 1
  m "done"
end
