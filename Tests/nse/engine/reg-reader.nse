description = "Test script: runs after reg-writer (a dependency) and reads what it left."
categories = {"safe"}
dependencies = {"reg-writer"}
hostrule = function() return true end
action = function(host)
  return string.format("hits=%s after_sleep=%s", tostring(host.registry.hits), tostring(host.registry.after_sleep))
end
