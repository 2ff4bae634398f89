description = [[Hostile test script: starts more threads than its policy allows.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local stdnse = require "stdnse"
  local made = 0
  local ok, err = pcall(function()
    for i = 1, 10 do
      stdnse.new_thread(function() stdnse.sleep(0.2) end)
      made = made + 1
    end
  end)
  return ("started %d; then: %s"):format(made, tostring(err):gsub("^[^\n]-:%d+: ", ""))
end
