description = "Hostile test script: tries to open a file for writing."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local f = io.open("/tmp/nsebox-pwned-write", "w")
  if f then f:write("pwned") f:close() end
  return "io.open for writing ran"
end
