local stdnse = require "stdnse"

description = [[nsebox's micro benchmark: keeps its child alive for 3 seconds (broker memory per live child).]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

hostrule = function(host) return true end

action = function(host)
  stdnse.sleep(3)
end
