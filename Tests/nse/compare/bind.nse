description = [[Test script: socket:bind before connect (the source address and port
a connect uses), bind's argument errors, and sendto on a connected TCP socket
(the address is ignored), as rpc.lua uses them.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local out = {}
  local s = nmap.new_socket()
  s:set_timeout(5000)
  out[#out + 1] = "bind: " .. tostring(s:bind("127.0.0.1", 0))
  out[#out + 1] = "connect: " .. tostring(s:connect(host, port))
  local _, lhost, lport = s:get_info()
  out[#out + 1] = "source: " .. tostring(lhost) .. " " .. tostring(lport > 0)
  out[#out + 1] = "sendto: " .. tostring(s:sendto(host, port, "GET / HTTP/1.0\r\n\r\n"))
  local ok, line = s:receive_buf("\r\n", false)
  out[#out + 1] = "reply: " .. tostring(ok) .. " " .. tostring(line)
  s:close()
  local bad = nmap.new_socket()
  out[#out + 1] = "bad address: " .. tostring(select(2, bad:bind("not an address", 80)))
  local any = nmap.new_socket()
  out[#out + 1] = "any address: " .. tostring(any:bind(nil, 0))
  out[#out + 1] = "connect: " .. tostring(any:connect(host, port))
  any:close()
  return table.concat(out, "\n")
end
