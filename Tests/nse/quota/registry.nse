description = [[Hostile test script: fills the shared registry past its policy's limit.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  nmap.registry.nsebox_flood = string.rep("r", 5000)
  require("stdnse").sleep(0.1)  -- a yield point: the registry goes back to the broker
  return "should not appear: the registry took it"
end
