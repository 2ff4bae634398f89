description = [[Attack (test script): allocate more memory than the process may have]]
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
  -- 64 MiB really touched, then one request for 4 GiB, past the policy's 2 GiB
  -- address space. Without the limit the request succeeds (and the line says so);
  -- with it, Lua fails the allocation at once, touching nothing more, so the
  -- attack costs the same on a loaded machine as on an idle one.
  -- (string.rep stops at 2 GiB itself; one `..` of 64 operands asks for all at once.)
  local concat64 = load("local s = ... return " .. string.rep("s", 64, ".."))
  local ok, err = pcall(concat64, string.rep("x", 1 << 26))
  collectgarbage()
  return seen(ok, err)
end
