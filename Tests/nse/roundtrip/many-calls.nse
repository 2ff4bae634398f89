local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
Asks the broker for the number of new targets as many times as the script
argument many-calls.n says (300): one round trip each, nothing else.
]]
author = "nsebox tests"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  local n = math.tointeger(tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".n"))) or 300
  local total = 0
  for _ = 1, n do total = total + nmap.new_targets_num() end
  return ("%d round trips, %d new targets"):format(n, total)
end
