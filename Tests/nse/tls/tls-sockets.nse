local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox's TLS sockets against nmap's: an "ssl" connect, STARTTLS with reconnect_ssl
on a plain TCP connection to a TLS port, get_ssl_certificate on sockets with and
without TLS, and what both do against a plain-text port.
]]
categories = {"safe"}

portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end

local function first_line(data)
  return type(data) == "string" and (data:match("^([^\r\n]*)") or "") or tostring(data)
end

local function describe(cert)
  if type(cert) ~= "userdata" and type(cert) ~= "table" then return tostring(cert) end
  return string.format("%s, issuer %s, %s %s bits, pem %s", tostring(cert.subject and cert.subject.commonName),
    tostring(cert.issuer and cert.issuer.organizationName), tostring(cert.pubkey and cert.pubkey.type),
    tostring(cert.pubkey and cert.pubkey.bits), tostring(type(cert.pem) == "string" and cert.pem:match("^%-%-%-%-%-BEGIN CERTIFICATE") ~= nil))
end

local function get(sock)
  local ok, err = sock:send("GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
  if not ok then return "send: " .. tostring(err) end
  local got, data = sock:receive_lines(1)
  if not got then return "receive: " .. tostring(data) end
  return "status: " .. first_line(data)
end

action = function(host, port)
  local out = {}
  local function say(...) out[#out + 1] = table.concat({...}, " ") end
  say("have_ssl:", tostring(nmap.have_ssl()))

  -- An ssl connect.
  local s = nmap.new_socket()
  s:set_timeout(5000)
  local ok, err = s:connect(host, port, "ssl")
  say("ssl connect:", tostring(ok), tostring(err))
  if ok then
    say("certificate:", describe(s:get_ssl_certificate()))
    say("ssl", get(s))
    local more, rest = s:receive()
    say("ssl after response:", tostring(more), more and "" or tostring(rest))
    say("ssl close:", tostring(s:close()))
  end

  -- STARTTLS on a plain connection (the port speaks TLS from the start).
  local p = nmap.new_socket()
  p:set_timeout(5000)
  say("tcp connect:", tostring(p:connect(host, port, "tcp")))
  local cok, cerr = pcall(p.get_ssl_certificate, p)
  say("certificate before TLS:", tostring(cok), tostring(cerr):match("not a SSL socket") or tostring(cerr))
  local rok, rerr = p:reconnect_ssl()
  say("reconnect_ssl:", tostring(rok), tostring(rerr))
  if rok then say("certificate after STARTTLS:", describe(p:get_ssl_certificate())) end
  say("starttls", get(p))
  if rok then
    say("reconnect_ssl again:", tostring(p:reconnect_ssl()))
  end
  say("tcp close:", tostring(p:close()))

  -- reconnect_ssl needs a connected socket.
  local u = nmap.new_socket()
  local uok, uerr = pcall(u.reconnect_ssl, u)
  say("reconnect_ssl unconnected:", tostring(uok), tostring(uerr):match("socket must be connected") or tostring(uerr))
  return table.concat(out, "\n")
end
