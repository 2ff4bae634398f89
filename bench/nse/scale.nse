description = [[
nsebox's scale benchmark: one instance per host, which does nothing and reports
nothing, so that 10,000 instances in one run measure only what an instance costs
the broker (NSEBOX_BROKER_STATS prints its descriptors and memory after 1,000 and
after 10,000).
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host) end
