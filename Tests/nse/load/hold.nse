description = [[Load test script: holds a connection to its port for a while, then
says whether the connection was made.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local s = nmap.new_socket()
  local ok, err = s:connect(host, port)
  require("stdnse").sleep(3)
  s:close()
  return ok and "held" or ("not connected: " .. tostring(err))
end
