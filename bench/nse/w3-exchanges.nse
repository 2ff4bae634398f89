local nmap = require "nmap"

description = [[
nsebox's benchmark W3a: request/response exchanges on one connection to an echo
server (bench/servers.py), to price one socket call. Argument w3.exchanges
(default 10000).
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

portrule = function(host, port) return true end

action = function(host, port)
  local n = tonumber(nmap.registry.args["w3.exchanges"]) or 10000
  local s = nmap.new_socket()
  assert(s:connect(host, port))
  local done = 0
  for _ = 1, n do
    if not s:send("ping\n") then break end
    local ok = s:receive_bytes(5)
    if not ok then break end
    done = done + 1
  end
  s:close()
  return ("%d exchanges"):format(done)
end
