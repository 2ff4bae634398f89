description = [[Hostile test script: sends more bytes than its policy allows.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local s = nmap.new_socket()
  s:connect(host, port)
  local ok1 = s:send(string.rep("a", 60))
  local ok2, err2 = s:send(string.rep("b", 60))
  return ("first send: %s; second send: %s %s"):format(tostring(ok1), tostring(ok2), tostring(err2))
end
