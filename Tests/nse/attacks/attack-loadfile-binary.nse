description = [[Attack (test script): load a binary chunk from a file (one the user named) with loadfile and dofile]]
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
  local a = seen(loadfile(args.binchunk, "b"))
  local b = seen(pcall(dofile, args.binchunk))
  return a .. " / " .. b
end
