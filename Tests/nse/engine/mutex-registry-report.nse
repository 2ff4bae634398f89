description = "Test script: reports how many instances held the registry-table mutex at once."
categories = {"safe"}
dependencies = {"mutex-registry"}
hostrule = function() return true end
action = function(host) return "table mutex max inside=" .. tostring(host.registry.table_max) end
