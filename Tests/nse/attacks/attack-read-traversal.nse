description = [[Attack (test script): read /etc/passwd through a data directory path with ../]]
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
  local base = nmap.fetchfile("nmap-services")
  return seen((io.open((base:gsub("nmap%-services$", "../../../../../etc/passwd")))))
end
