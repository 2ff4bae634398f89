description = "Test script: first of a dependency chain; records its order."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local stdnse = require "stdnse"
  stdnse.sleep(0.2)
  host.registry.chain = (host.registry.chain or "") .. "a"
end
