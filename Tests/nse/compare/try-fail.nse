description = "Test script: a failed nmap.new_try ends it without output."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local nmap = require "nmap"
  local try = nmap.new_try()
  try(false, "deliberate try failure")
  return "not reached"
end
