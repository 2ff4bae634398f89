local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox's round trip and nothing else: calls nmap.new_targets_num (no argument,
an integer back) as many times as the script argument rpc-loop.calls says
(20,000), with no clock, no table and no sorting, so that what the processes
do beyond start and end is the round trips (bench/rpc-instructions). With
rpc-loop.op=port, calls nmap.get_port_state for port 1/tcp instead (a port
table back).
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  local calls = math.tointeger(tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".calls"))) or 20000
  if stdnse.get_script_args(SCRIPT_NAME .. ".op") == "port" then
    local get_port_state, port, open = nmap.get_port_state, {number = 1, protocol = "tcp"}, 0
    for _ = 1, calls do
      if get_port_state(host, port).state == "open" then open = open + 1 end
    end
    return ("%d calls"):format(calls)
  end
  local new_targets_num, sum = nmap.new_targets_num, 0
  for _ = 1, calls do sum = sum + new_targets_num() end
  return ("%d calls"):format(calls)
end
