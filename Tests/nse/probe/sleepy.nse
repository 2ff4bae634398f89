description = "Test script: sleeps, so a test can look at its process while it lives."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local stdnse = require "stdnse"
  stdnse.sleep(3)
  return "slept"
end
