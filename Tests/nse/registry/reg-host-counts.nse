description = "Test script: what the two counting scripts left in this host's registry."
categories = {"safe"}
dependencies = {"reg-host-first", "reg-global-first"}
hostrule = function() return true end
action = function(host)
  return string.format("host_first=%s global_first=%s", tostring(host.registry.host_first), tostring(host.registry.global_first))
end
