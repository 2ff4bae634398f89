description = "Test script: last of a dependency chain; shows the order the chain ran in."
categories = {"safe"}
dependencies = {"chain-b", "chain-a"}
hostrule = function() return true end
action = function(host) return "order=" .. tostring(host.registry.chain) .. "c" end
