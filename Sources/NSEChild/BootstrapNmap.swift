/// Part of the child's bootstrap: the `nmap` module. Sockets, sleeps and the port
/// table are requests to the broker; option values come with the job; registries
/// are the broker's, held by this process from first use until its next yield point.
let bootstrapNmap = #"""
local rt, OP, S = ...
-- The base functions as the bootstrap found them: nmap's own functions are C,
-- which a script's globals cannot change, and a local is also found faster.
local type, tostring, tonumber, tointeger = type, tostring, tonumber, math.tointeger
local job = S.job
local rpc = S.rpc
local nmap = {}
S.nmap = nmap
package.loaded.nmap = nmap

-- Registries. The broker lends this process the registry from the first access
-- until the next yield point, then takes back what the script left in it, so the
-- reads and writes between two yield points are atomic as they are in nmap.
local held = {}
local function sendable(v, seen, depth)
  local tv = type(v)
  if tv == "string" or tv == "number" or tv == "boolean" then return v end
  if tv ~= "table" or seen[v] or depth > 60 then return nil end
  seen[v] = true
  local copy = {}
  for k, x in next, v do
    local sk, sx = sendable(k, seen, depth + 1), sendable(x, seen, depth + 1)
    if sk ~= nil and sx ~= nil then copy[sk] = sx end
  end
  seen[v] = nil
  return copy
end
-- Where each registry table came from ("global.whois", "host 10.0.0.1.ssl"), so a
-- mutex keyed by a registry table is shared with every script that reaches the
-- same table, as in nmap.
local registry_paths = setmetatable({}, {__mode = "k"})
S.registry_paths = registry_paths
local function scope_name(scope)
  if scope == "host" then return "host " .. tostring(job.host and job.host.ip) end
  return scope
end
local function index_paths(t, path, depth)
  if depth > 20 then return end
  registry_paths[t] = path
  for k, v in next, t do
    if type(v) == "table" and registry_paths[v] == nil then index_paths(v, path .. "." .. tostring(k), depth + 1) end
  end
end
local function registry_table(scope)
  local t = held[scope]
  if t == nil then
    t = rt.call(OP.registryAcquire, scope) or {}
    held[scope] = t
    index_paths(t, scope_name(scope), 0)
  end
  return t
end
-- A scope the broker lent with a mutex lock: held from now to the next yield
-- point, as if read now. (Nothing is held at a lock's reply: the yield gave all back.)
S.adopt_registry = function(scope, t)
  if held[scope] ~= nil then return end
  if type(t) ~= "table" then return rt.notify(OP.registryRelease, scope, nil) end
  held[scope] = t
  index_paths(t, scope_name(scope), 0)
end
S.before_yield = function()
  if next(held) == nil then return end
  local give = held
  held = {}
  for scope, t in pairs(give) do
    rt.notify(OP.registryRelease, scope, sendable(t, {}, 0) or {})
  end
end
local function registry_proxy(scope, fixed)
  return setmetatable({}, {
    __index = function(_, k)
      if fixed and fixed[k] ~= nil then return fixed[k] end
      local v = registry_table(scope)[k]
      if type(v) == "table" and registry_paths[v] == nil then registry_paths[v] = scope_name(scope) .. "." .. tostring(k) end
      return v
    end,
    __newindex = function(_, k, v) registry_table(scope)[k] = v end,
    __pairs = function() return next, registry_table(scope), nil end,
    __len = function() return #registry_table(scope) end,
  })
end
S.registry_proxy = registry_proxy
nmap.registry = registry_proxy("global", {args = job.args or {}})

-- Options, fixed for the run.
function nmap.verbosity() return (job.verbosity or 0) + ((job.selected_by_name and 1) or 0) end
function nmap.debugging() return job.debugging or 0 end
function nmap.timing_level() return job.timing_level or 3 end
function nmap.version_intensity() return job.version_intensity or 7 end
function nmap.have_ssl() return job.have_ssl == true end
function nmap.is_privileged() return job.is_privileged == true end
function nmap.address_family() return job.address_family or "inet" end
function nmap.get_interface() return job.interface end
function nmap.get_ttl() return job.ttl or 64 end
function nmap.get_payload_length() return job.payload_length or 0 end
function nmap.port_is_excluded() return false end
function nmap.clock() return rt.clock() end
-- Whole milliseconds, but a float, as nmap's ceil() gives them (snmp.lua packs
-- math.fmod(clock_ms, 65000) as an integer).
function nmap.clock_ms() return math.ceil(rt.clock() * 1000) + 0.0 end
function nmap.get_random_bytes(n) return rt.random_bytes(n) end
function nmap.log_write(where, s)
  rt.notify(OP.log, where == "stderr" and "stderr" or "stdout", tostring(s))
end
nmap.mutex = S.mutex
nmap.condvar = S.condvar

function nmap.new_try(handler)
  return function(status, ...)
    if status then return ... end
    if handler then handler() end
    error({errtype = "nmap.new_try", message = (...)}, 0)
  end
end

function nmap.fetchfile(name)
  local path = rt.call(OP.readDataFile, "?" .. tostring(name))
  return path
end

function nmap.get_port_state(host, port)
  return rt.call(OP.getPortState, S.port_key(port))
end

function nmap.get_ports(host, prev, proto, state)
  local list = rt.call(OP.getPorts, tostring(proto or ""), tostring(state or "")) or {}
  local after = type(prev) == "table" and prev.number or nil
  for _, p in ipairs(list) do
    if after == nil or p.number > after then return p end
  end
  return nil
end

function S.port_key(port)
  local number = type(port) == "table" and port.number or port
  local proto = type(port) == "table" and port.protocol or "tcp"
  return tointeger(tonumber(number)) or -1, tostring(proto)
end

function nmap.set_port_state(host, port, state)
  local number, proto = S.port_key(port)
  if state ~= "open" and state ~= "closed" then
    error("bad argument #3 to 'set_port_state' (invalid option '" .. tostring(state) .. "')", 2)
  end
  rt.notify(OP.setPortState, number, proto, state)
end

function nmap.set_port_version(host, port, probestate)
  local number, proto = S.port_key(port)
  local v = type(port) == "table" and type(port.version) == "table" and port.version or {}
  local copy = {}
  for _, k in ipairs({"name", "product", "version", "extrainfo", "hostname", "ostype", "devicetype",
                      "service_tunnel", "name_confidence"}) do
    if v[k] ~= nil then copy[k] = v[k] end
  end
  if type(v.cpe) == "table" then copy.cpe = v.cpe end
  rt.notify(OP.setPortVersion, number, proto, copy, tostring(probestate or "hardmatched"))
end

-- Sockets.
local Socket = {}
Socket.__index = Socket
Socket.__name = "nsock"
local next_socket = 0
local DEFAULT_TIMEOUT = 30000

function nmap.new_socket(proto, af)
  next_socket = next_socket + 1
  -- The broker learns of the socket at its first request; until set_timeout it
  -- uses nmap's default of 30 seconds.
  return setmetatable({id = next_socket, proto = proto or "tcp", timeout = DEFAULT_TIMEOUT, buf = ""}, Socket)
end

-- `iod`: whether nmap would hold an nsock descriptor for the socket, which is all
-- its close looks at. A connect attempt opens one, failed or not, and so does any
-- use of a UDP socket (check_open); close drops it. The child knows this from its
-- own calls, so it answers close itself and tells the broker with a one-way
-- closeAnswered.

local function host_of(host)
  if type(host) == "table" then return host.ip or host.targetname or host.name end
  return host
end

function Socket:connect(host, port, proto)
  local address = host_of(host)
  if type(address) ~= "string" then error("bad argument #1 to 'connect' (host table or string expected)", 2) end
  local number = port
  if type(port) == "table" then
    number = port.number
    proto = proto or port.protocol
  end
  number = tointeger(tonumber(number))
  if not number or number < 0 or number > 65535 then
    error("bad argument #2 to 'connect' (port number expected)", 2)
  end
  proto = proto or self.proto or "tcp"
  self.proto = proto
  -- "ssl": the broker connects and runs the TLS handshake within the timeout.
  local source = self.source or {"", -1}
  self.iod = true
  local ok, err = rpc("connect", self.id, address, number, proto, source[1], source[2])
  if ok then self.connected = true; self.buf = "" end
  self.ssl = (ok and proto == "ssl") or nil
  -- nmap's success is `true` alone (what a script that prints every value sees).
  if ok then return ok end
  return ok, err
end

-- nmap raises an error when a TCP socket that is not connected is used; a UDP
-- socket needs no connect, and its use gives it a descriptor.
local function check_open(self)
  if not self.connected and self.proto ~= "udp" then error("socket must be connected", 3) end
  if self.proto == "udp" then self.iod = true end
end

function Socket:send(data)
  check_open(self)
  return rpc("send", self.id, tostring(data))
end

function Socket:sendto(host, port, data)
  local address = host_of(host)
  local number = type(port) == "table" and port.number or port
  number = tointeger(tonumber(number))
  if type(address) ~= "string" or not number then error("bad argument to 'sendto' (host and port expected)", 2) end
  check_open(self)
  return rpc("sendTo", self.id, address, number, tostring(data))
end

-- receive, receive_bytes and receive_lines read from the broker; only receive_buf
-- keeps its own buffer, as in nmap.
function Socket:receive()
  check_open(self)
  return rpc("receive", self.id, 0, 0)
end

function Socket:receive_bytes(n)
  check_open(self)
  return rpc("receive", self.id, 1, tointeger(tonumber(n)) or 1)
end

function Socket:receive_lines(n)
  check_open(self)
  return rpc("receive", self.id, 2, tointeger(tonumber(n)) or 1)
end

--- Reads until `delim` (a Lua pattern, or a function returning start and end
--- indices) matches; keeps the rest for the next call.
function Socket:receive_buf(delim, keep)
  check_open(self)
  if type(delim) ~= "function" and type(delim) ~= "string" then
    error("bad argument #1 to 'receive_buf' (function/string expected)", 2)
  end
  if type(keep) ~= "boolean" then error("bad argument #2 to 'receive_buf' (boolean expected)", 2) end
  while true do
    local l, r
    if type(delim) == "function" then l, r = delim(self.buf) else l, r = string.find(self.buf, delim) end
    if math.type(l) and math.type(r) then
      if l > r or r > #self.buf then error("invalid indices for match", 2) end
      local out = keep and self.buf:sub(1, r) or self.buf:sub(1, l - 1)
      self.buf = self.buf:sub(r + 1)
      return true, out
    end
    local ok, data = rpc("receive", self.id, 0, 0)
    if not ok then return ok, data end
    self.buf = self.buf .. data
  end
end

-- As nmap's close: no yield, and "socket already closed" unless a descriptor is held.
function Socket:close()
  self.buf = ""
  self.connected = false
  self.ssl = nil
  if not self.iod then return false, "socket already closed" end
  self.iod = nil
  rt.notify(OP.closeAnswered, self.id)
  return true
end

function Socket:set_timeout(ms)
  -- nmap truncates a fractional timeout (stdnse.get_timeout can give 1428.57).
  ms = tonumber(ms)
  ms = ms and ms == ms and tointeger(ms >= 0 and math.floor(ms) or math.ceil(ms))
  if not ms then error("bad argument #1 to 'set_timeout' (number expected)", 2) end
  if ms < -1 then error("Negative timeout: " .. ms, 2) end
  self.timeout = ms
  rt.notify(OP.setTimeout, self.id, ms)
  return true
end

function Socket:get_info()
  check_open(self)
  return rpc("getInfo", self.id)
end

-- bind only records the source address: as in nsock, the bind happens at the
-- next connect (in the broker), whose error it then is.
function Socket:bind(address, port)
  if address ~= nil and type(address) ~= "string" then
    error("bad argument #1 to 'bind' (string expected, got " .. type(address) .. ")", 2)
  end
  local number = tointeger(tonumber(port))
  if not number then error("bad argument #2 to 'bind' (number expected, got " .. type(port) .. ")", 2) end
  if number < 0 or number > 65535 then return nil, "getaddrinfo: Servname not supported for ai_socktype" end
  if address and not (address:match("^%d+%.%d+%.%d+%.%d+$") or address:match("^[%x:.]*:[%x:.]*$")) then
    return nil, "getaddrinfo: Name or service not known"
  end
  self.source = {address or "", number}
  return true
end
-- STARTTLS: the broker starts TLS on the connected socket. Like nmap, after a
-- failed handshake sends and receives fail and close still succeeds.
function Socket:reconnect_ssl()
  check_open(self)
  local ok, err = rpc("reconnectSSL", self.id)
  if ok then self.ssl = true; return ok end
  return ok, err
end

-- nmap's argument error for a bad socket, worded as Lua words it for a C method:
-- "calling 'f' on bad self (...)" when called as a method, else "bad argument #1".
local getinfo = debug.getinfo
local function bad_self(msg)
  local info = getinfo(2, "n") or {}
  if info.namewhat == "method" then
    error(string.format("calling '%s' on bad self (%s)", tostring(info.name), msg), 3)
  end
  error(string.format("bad argument #1 to '%s' (%s)", info.name or "?", msg), 3)
end

-- The peer's certificate, parsed by the nsebox_cert module from the DER bytes the
-- broker sends. As in nmap, asking a socket without TLS is an error.
function Socket:get_ssl_certificate()
  if not (self.ssl and self.connected) then bad_self("not a SSL socket") end
  local ok, der = rpc("getSSLCertificate", self.id)
  if not ok then return nil, der end
  if package.preload.nsebox_cert == nil and package.loaded.nsebox_cert == nil then
    return nil, "certificate parsing unavailable"
  end
  return require("nsebox_cert").parse(der)
end

-- Packet capture. The broker opens libpcap (narrowing the filter to the hosts under
-- scan) and queues what it catches for this socket. Both forms: nmap 7.93's
-- pcap_open(device, snaplen, promisc, bpf), and the NSE book's
-- pcap_open(device, snaplen, promisc, hash_fn, bpf) with pcap_register(hash):
-- the hash function (Lua) runs here, on each packet the broker delivers.
function Socket:pcap_open(device, snaplen, promisc, a4, a5)
  local hash_fn, bpf = nil, a4
  if type(a4) == "function" then hash_fn, bpf = a4, a5 end
  if type(device) ~= "string" then error("bad argument #1 to 'pcap_open' (string expected)", 2) end
  snaplen = tointeger(tonumber(snaplen))
  if not snaplen then error("bad argument #2 to 'pcap_open' (number expected)", 2) end
  if type(promisc) ~= "boolean" then error("bad argument #3 to 'pcap_open' (boolean expected)", 2) end
  if type(bpf) ~= "string" then error("bad argument #" .. (hash_fn and 5 or 4) .. " to 'pcap_open' (string expected)", 2) end
  if self.connected or self.pcap then error("bad argument #1 to 'pcap_open' (socket is already open)", 2) end
  if device == "" then error("bad argument #1 to 'pcap_open' (bad device name)", 2) end
  local ok, err = rpc("pcapOpen", self.id, device, snaplen, promisc and 1 or 0, bpf)
  if not ok then error(err or ("can't open pcap reader on " .. device), 2) end
  self.pcap = true
  self.hash_fn = hash_fn
  self.wanted = nil
end

function Socket:pcap_register(hash)
  if not self.pcap then error("not a pcap socket", 2) end
  self.wanted = self.wanted or {}
  self.wanted[tostring(hash)] = true
end

function Socket:pcap_receive()
  if not self.pcap then error("not a pcap socket", 2) end
  while true do
    local ok, len, l2, l3, t = rpc("pcapReceive", self.id)
    if not ok then return ok, len end
    local wanted = self.wanted
    if not self.hash_fn or wanted == nil or wanted[""] or wanted[self.hash_fn(len, l2, l3)] then
      return ok, len, l2, l3, t
    end
  end
end

-- A capture's close is the broker's to answer (it holds the pcap handle).
local socket_close = Socket.close
function Socket:close()
  if self.pcap then
    self.pcap, self.hash_fn, self.wanted = nil, nil, nil
    return rpc("close", self.id)
  end
  return socket_close(self)
end
Socket.pcap_close = Socket.close

-- Raw sending: the broker holds the raw and packet sockets; ip_send and
-- ethernet_send are requests it checks (policy, destination) before sending.
local Dnet = {}
Dnet.__index = Dnet
Dnet.__name = "dnet"
function nmap.new_dnet() return setmetatable({}, Dnet) end
local function need_root(what)
  if not nmap.is_privileged() then error(what, 3) end
end
function Dnet:ip_open()
  need_root("failed to open raw socket: Operation not permitted (errno 1)")
  self.ip = true
  return true
end
function Dnet:ip_close()
  if not self.ip then return false, "raw socket already closed" end
  self.ip = nil
  return true
end
function Dnet:ip_send(packet, dst)
  if not self.ip then error("raw socket not open to send", 2) end
  if type(packet) ~= "string" then error("bad argument #1 to 'ip_send' (string expected)", 2) end
  local address = ""
  if dst ~= nil then address = host_of(dst) or "" end
  return rpc("rawSend", "ip", "", packet, tostring(address))
end
function Dnet:ethernet_open(device)
  if type(device) ~= "string" then error("bad argument #1 to 'ethernet_open' (string expected)", 2) end
  need_root("unable to open dnet on ethernet interface " .. device)
  self.device = device
  return true
end
function Dnet:ethernet_close() self.device = nil; return true end
function Dnet:ethernet_send(frame)
  if not self.device then error("dnet ethernet interface is not open", 2) end
  if type(frame) ~= "string" then error("bad argument #1 to 'ethernet_send' (string expected)", 2) end
  return rpc("rawSend", "ethernet", self.device, frame, "")
end

nmap.socket = {
  sleep = function(seconds)
    local secs = tonumber(seconds)
    if not secs then error("bad argument #1 to 'sleep' (number expected)", 2) end
    if secs < 0 then error(string.format("argument to sleep (%f) must not be negative\n", secs), 2) end
    local ms = secs * 1000
    if ms ~= ms then ms = 0 end
    rpc("sleep", tointeger(math.floor(math.min(ms, 86400000) + 0.5)))
  end,
}
nmap.socket.parse_ssl_certificate = function(der) return require("nsebox_cert").parse_der(der) end -- nmap's: DER only; libcrypto starts on first use
package.loaded["nmap.socket"] = nmap.socket
"""#
