description = "Test script: counts into its host's registry, then the global one, in one segment, five times."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  for _ = 1, 5 do
    host.registry.host_first = (host.registry.host_first or 0) + 1
    nmap.registry.host_first_total = (nmap.registry.host_first_total or 0) + 1
    stdnse.sleep(0.005)
  end
end
