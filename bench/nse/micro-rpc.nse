local nmap = require "nmap"

description = [[
nsebox's micro benchmark: times 10,000 calls of nmap.get_port_state, one request
and reply to the broker each (a lookup in nmap's own process), and prints the
median and 99th percentile in microseconds.
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  local clock, times = nmap.clock, {}
  local port = {number = 1, protocol = "tcp"}
  for i = 1, 10000 do
    local t0 = clock()
    nmap.get_port_state(host, port)
    times[i] = clock() - t0
  end
  table.sort(times)
  return ("p50 %.1f us, p99 %.1f us"):format(times[5000] * 1e6, times[9900] * 1e6)
end
