local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox's round trip and nothing else: calls nmap.new_targets_num (no argument,
an integer back) as many times as the script argument rpc-loop.calls says
(20,000), with no clock, no table and no sorting, so that what the processes
do beyond start and end is the round trips (bench/rpc-instructions).
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  local calls = math.tointeger(tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".calls"))) or 20000
  local new_targets_num, sum = nmap.new_targets_num, 0
  for _ = 1, calls do sum = sum + new_targets_num() end
  return ("%d calls"):format(calls)
end
