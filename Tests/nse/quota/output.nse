description = [[Hostile test script: floods the log and the report past its policy's limit.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local stdnse = require "stdnse"
  for i = 1, 50 do stdnse.print_verbose(0, "flood line %d %s", i, string.rep("x", 40)) end
  return string.rep("report flood ", 100)
end
