description = "Test script: what the two counting scripts left in the global registry."
categories = {"safe"}
dependencies = {"reg-host-first", "reg-global-first"}
postrule = function() return true end
action = function()
  local nmap = require "nmap"
  return string.format("host_first_total=%s global_first_total=%s",
    tostring(nmap.registry.host_first_total), tostring(nmap.registry.global_first_total))
end
