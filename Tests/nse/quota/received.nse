description = [[Hostile test script: keeps receiving past its policy's limit.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local got, last = 0, nil
  for round = 1, 3 do
    local s = nmap.new_socket()
    s:connect(host, port)
    s:send("GET /big.html HTTP/1.0\r\n\r\n")
    local ok, data = s:receive_bytes(1)
    if ok then got = got + 1 else last = data end
    s:close()
  end
  return ("answers: %d; then: %s"):format(got, tostring(last))
end
