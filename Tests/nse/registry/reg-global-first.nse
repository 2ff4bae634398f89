description = "Test script: counts into the global registry, then its host's, in one segment, five times."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  for _ = 1, 5 do
    nmap.registry.global_first_total = (nmap.registry.global_first_total or 0) + 1
    host.registry.global_first = (host.registry.global_first or 0) + 1
    stdnse.sleep(0.005)
  end
end
