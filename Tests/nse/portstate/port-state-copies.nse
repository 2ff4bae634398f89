local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox test: each nmap.get_port_state answer is a table of the script's own,
walked by pairs in the same order every time it is asked, untouched by what the
script did to an earlier answer, and following nmap.set_port_state.
]]
author = "nsebox tests"
license = "Same as nsebox"
categories = {"safe"}

portrule = function(host, port) return port.protocol == "tcp" end

local function keys(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = tostring(k) end
  return table.concat(names, ",")
end

action = function(host, port)
  local last = nmap.get_port_state(host, port)
  local order, versionOrder = keys(last), keys(last.version)
  local seen = {}
  for i = 1, 5 do
    -- What the script does to an answer stays in that answer.
    last.state, last.version.name, last.extra = "changed", "changed", i
    local p = nmap.get_port_state(host, port)
    local notes = {}
    if keys(p) ~= order or keys(p.version) ~= versionOrder then notes[#notes + 1] = "order" end
    if p == last or p.version == last.version then notes[#notes + 1] = "shared" end
    seen[#seen + 1] = ("%s/%s/%s%s"):format(p.state, tostring(p.version.name == p.service), tostring(p.extra),
      #notes > 0 and "/" .. table.concat(notes, "+") or "")
    last = p
  end
  nmap.set_port_state(host, port, "closed")
  seen[#seen + 1] = nmap.get_port_state(host, port).state
  seen[#seen + 1] = nmap.get_port_state(host, port).state
  return table.concat(seen, " ")
end
