description = "Test script: second of a dependency chain."
categories = {"safe"}
dependencies = {"chain-a"}
hostrule = function() return true end
action = function(host) host.registry.chain = (host.registry.chain or "") .. "b" end
