description = "Hostile test script: tries to load a C library with package.loadlib."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local f = package.loadlib("/lib/x86_64-linux-gnu/libc.so.6", "system")
  return "package.loadlib ran: " .. tostring(f)
end
