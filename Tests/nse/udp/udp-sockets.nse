description = [[Test script: a DNS query over an unconnected UDP socket (sendto) and
over a connected one, to the DNS port the test names in udp-sockets.port.]]
categories = {"safe"}
hostrule = function() return true end
local query = "\18\52\1\0\0\1\0\0\0\0\0\0\6nsebox\4test\0\0\1\0\1"
action = function(host)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  local port = tonumber(stdnse.get_script_args("udp-sockets.port"))
  local out = {}
  local s = nmap.new_socket("udp")
  s:set_timeout(3000)
  out[#out + 1] = "sendto: " .. tostring(s:sendto(host, port, query))
  local ok, reply = s:receive()
  out[#out + 1] = "reply: " .. tostring(ok) .. " id=" .. (ok and string.format("%02x%02x", reply:byte(1, 2)) or tostring(reply))
    .. " answer=" .. (ok and string.format("%d.%d.%d.%d", reply:byte(#reply - 3, #reply)) or "-")
  s:close()
  local c = nmap.new_socket()
  c:set_timeout(3000)
  out[#out + 1] = "connect udp: " .. tostring(c:connect(host, port, "udp"))
  c:send(query)
  local ok2, reply2 = c:receive()
  out[#out + 1] = "connected reply: " .. tostring(ok2) .. " " .. tostring(ok2 and #reply2 == #reply)
  c:close()
  return table.concat(out, "\n")
end
