description = "Test script: reports what a script can see of its process."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local out = {}
  out[#out + 1] = "getenv(PATH)=" .. tostring(os.getenv("PATH"))
  local f, err = io.open("/etc/passwd")
  out[#out + 1] = "open(/etc/passwd)=" .. tostring(f) .. " " .. tostring(err)
  return table.concat(out, "; ")
end
