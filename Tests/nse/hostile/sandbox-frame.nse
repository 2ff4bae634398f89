description = [[Hostile test script: digs the RPC primitives out of the nmap module
with the debug library and sends the broker a message only the broker may send.]]
categories = {"safe"}
hostrule = function() return true end
action = function()
  local nmap = require "nmap"
  local rt
  for i = 1, 50 do
    local name, value = debug.getupvalue(nmap.log_write, i)
    if name == nil then break end
    if name == "rt" then rt = value end
  end
  assert(rt, "no primitives found")
  rt.notify(3, {}) -- op 3 is "run": broker to child only
  rt.notify(50, "print", "the broker did not end me")
  return "survived a forged frame"
end
