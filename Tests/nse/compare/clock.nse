description = [[Test script: the types nmap's clocks return (clock_ms is whole
milliseconds as a float; snmp.lua packs it as an integer).]]
categories = {"safe"}
prerule = function() return true end
action = function()
  local nmap = require "nmap"
  local ms, s = nmap.clock_ms(), nmap.clock()
  return ("clock_ms: %s whole=%s; clock: %s; packs=%s"):format(math.type(ms), tostring(ms % 1 == 0),
    math.type(s), tostring(pcall(string.pack, "B", math.fmod(ms, 65000) % 256)))
end
