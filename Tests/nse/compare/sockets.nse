description = [[Test script: exercises socket calls and their return values against an
HTTP server, and a connect to a port nothing listens on.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local out = {}
  local s = nmap.new_socket()
  s:set_timeout(5000)
  out[#out + 1] = "connect: " .. tostring(s:connect(host, port))
  out[#out + 1] = "send: " .. tostring(s:send("GET / HTTP/1.0\r\nHost: test\r\n\r\n"))
  local ok, status = s:receive_buf("\r\n", false)
  out[#out + 1] = "status: " .. tostring(ok) .. " " .. tostring(status)
  local ok2, header = s:receive_buf("\r\n", true)
  out[#out + 1] = "header kept delimiter: " .. tostring(ok2) .. " " .. tostring(header:sub(-2) == "\r\n")
  local ok3, rest = s:receive_buf("</html>", true)
  out[#out + 1] = "body end: " .. tostring(ok3) .. " " .. tostring(rest and rest:sub(-7))
  local ok4, err4 = s:receive()
  out[#out + 1] = "after end: " .. tostring(ok4) .. " " .. tostring(err4)
  local ok5, lhost, lport, rhost, rport = s:get_info()
  out[#out + 1] = "info: " .. tostring(ok5) .. " " .. tostring(rhost) .. " " .. tostring(rport == port.number)
  out[#out + 1] = "close: " .. tostring(s:close())
  local c = nmap.new_socket()
  c:set_timeout(2000)
  local ok6, err6 = c:connect(host.ip, 1)
  out[#out + 1] = "closed port: " .. tostring(ok6) .. " " .. tostring(err6)
  return table.concat(out, "\n")
end
