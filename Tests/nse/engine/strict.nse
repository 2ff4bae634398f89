description = "Test script: reading an undeclared global is an error, as nmap's strict mode makes it."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local ok, err = pcall(function() return undeclared_variable_xyz end)
  return "ok=" .. tostring(ok) .. " err=" .. tostring(err):gsub("^.*:%d+: ", "")
end
