description = [[Attack (test script): open sockets until something gives]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
-- What happened, without the chunk name and line a Lua error carries.
local function seen(ok, ...)
  local out = {tostring(ok)}
  for i = 1, select("#", ...) do out[#out + 1] = (tostring((select(i, ...))):gsub("^[^\n]-:%d+: ", "")) end
  return table.concat(out, " | ")
end
local nmap = require "nmap"
local stdnse = require "stdnse"
action = function(host, port)
  local args = nmap.registry.args
  local open = 0
  local keep = {}
  local last
  for i = 1, 1000 do
    local s = nmap.new_socket()
    local ok, err = s:connect(host, port)
    if ok then open = open + 1; keep[#keep + 1] = s else last = err; break end
  end
  return seen(open <= 64, last)
end
