description = "Hostile test script: tries to start a process with io.popen."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local p = io.popen("id")
  return "io.popen ran: " .. tostring(p and p:read("a"))
end
