local nmap = require "nmap"

description = [[
nsebox's micro benchmark: times 10,000 calls of nmap.new_targets_num (the least a
request can carry: nothing, and one integer back) and 10,000 of
nmap.get_port_state (a port table back), one request and reply to the broker
each (a lookup in nmap's own process), and prints the median and 99th
percentile of each in microseconds.
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

local function timed(call)
  local clock, times = nmap.clock, {}
  for i = 1, 10000 do
    local t0 = clock()
    call()
    times[i] = clock() - t0
  end
  table.sort(times)
  return ("p50 %.1f us, p99 %.1f us"):format(times[5000] * 1e6, times[9900] * 1e6)
end

action = function(host)
  local port = {number = 1, protocol = "tcp"}
  local least = timed(function() nmap.new_targets_num() end)
  local table_back = timed(function() nmap.get_port_state(host, port) end)
  return ("new_targets_num %s; get_port_state %s"):format(least, table_back)
end
