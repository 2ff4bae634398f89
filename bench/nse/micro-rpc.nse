local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox's micro benchmark: times calls of nmap.new_targets_num (the least a
request can carry: nothing, and one integer back) and of nmap.get_port_state (a
port table back), one request and reply to the broker each (a lookup in nmap's
own process), one of each in turn so that both see the host alike, and prints
the median and 99th percentile of each in microseconds. Script argument
micro-rpc.calls: how many of each (10,000).
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

local function summary(times)
  table.sort(times)
  local n = #times
  return ("p50 %.1f us, p99 %.1f us"):format(times[n // 2] * 1e6, times[math.max(1, n * 99 // 100)] * 1e6)
end

action = function(host)
  local calls = math.tointeger(tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".calls"))) or 10000
  local port = {number = 1, protocol = "tcp"}
  local clock, least, table_back = nmap.clock, {}, {}
  for i = 1, calls do
    local t0 = clock()
    nmap.new_targets_num()
    local t1 = clock()
    nmap.get_port_state(host, port)
    least[i], table_back[i] = t1 - t0, clock() - t1
  end
  return ("new_targets_num %s; get_port_state %s"):format(summary(least), summary(table_back))
end
