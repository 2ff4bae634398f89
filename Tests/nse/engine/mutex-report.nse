description = "Test script: reports how many instances were ever inside the mutex at once."
categories = {"safe"}
dependencies = {"mutex-shared"}
postrule = function() return true end
action = function()
  local nmap = require "nmap"
  return "max inside at once=" .. tostring(nmap.registry.mutex_max)
end
