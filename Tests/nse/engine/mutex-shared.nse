description = "Test script: instances on every port take turns on a mutex named by a string."
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  local m = nmap.mutex("engine-test-mutex")
  m "lock"
  local inside = (nmap.registry.mutex_inside or 0) + 1
  nmap.registry.mutex_inside = inside
  if inside > (nmap.registry.mutex_max or 0) then nmap.registry.mutex_max = inside end
  stdnse.sleep(0.02)
  nmap.registry.mutex_inside = nmap.registry.mutex_inside - 1
  m "done"
end
