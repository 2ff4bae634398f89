description = [[Hostile test script: opens more sockets at once than its policy allows.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local opened, last = 0, nil
  local keep = {}
  for i = 1, 5 do
    local s = nmap.new_socket()
    local ok, err = s:connect(host, port)
    if ok then opened = opened + 1; keep[#keep + 1] = s else last = err end
  end
  return ("opened %d of 5; refused: %s"):format(opened, tostring(last))
end
