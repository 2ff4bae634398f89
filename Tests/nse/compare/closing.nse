description = [[Test script: what close answers after each kind of use (never used,
connected, refused, UDP), a second close, and a socket used again after close.]]
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local out = {}
  local function say(label, ...)
    local t = table.pack(...)
    local parts = {}
    for i = 1, t.n do parts[#parts + 1] = tostring(t[i]) end
    out[#out + 1] = label .. ": " .. table.concat(parts, " ")
  end
  say("never used", nmap.new_socket():close())
  local s = nmap.new_socket()
  s:set_timeout(5000)
  say("connect", s:connect(host, port))
  say("close", s:close())
  say("close again", s:close())
  say("connect again", s:connect(host, port))
  say("send", s:send("HEAD / HTTP/1.0\r\n\r\n"))
  local ok, data = s:receive_lines(1)
  say("reply", ok, ok and data:match("^HTTP/1%.%d %d+") or data)
  say("close", s:close())
  local r = nmap.new_socket()
  r:set_timeout(2000)
  say("refused", r:connect(host.ip, 1))
  say("close after refused", r:close())
  say("close again", r:close())
  local u = nmap.new_socket("udp")
  say("udp never used", u:close())
  say("udp sendto", u:sendto(host.ip, 9, "x"))
  say("udp close", u:close())
  say("udp close again", u:close())
  return table.concat(out, "\n")
end
