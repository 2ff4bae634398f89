local nmap = require "nmap"

description = [[
nsebox's benchmark W3b: receives everything a bulk server (bench/servers.py)
sends on one connection, to price throughput.
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

portrule = function(host, port) return true end

action = function(host, port)
  local s = nmap.new_socket()
  s:set_timeout(10000)
  assert(s:connect(host, port))
  local total = 0
  while true do
    local ok, data = s:receive()
    if not ok then break end
    total = total + #data
  end
  s:close()
  return ("%d bytes"):format(total)
end
