local nmap = require "nmap"

description = [[
nsebox's micro benchmark: its action's first line is a log line, which the broker
(NSEBOX_BROKER_STATS=1) times from the child's spawn.
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  nmap.log_write("stdout", "micro-start")
end
