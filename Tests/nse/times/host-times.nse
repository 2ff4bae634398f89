description = "Test script: host.times, from which scripts derive their timeouts (stdnse.get_timeout)."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local stdnse = require "stdnse"
  local t = host.times
  return string.format("timeout=%s rttvar=%s answered=%s get_timeout=%s", tostring(t.timeout), tostring(t.rttvar),
    tostring(t.srtt > 0 and t.srtt < t.timeout), tostring(stdnse.get_timeout(host)))
end
