description = [[Hostile test script: runs (sleeping) far past its policy's wall-time limit.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  require("stdnse").sleep(60)
  return "should not appear: slept a minute"
end
