/// Part of the child's bootstrap: the `libssh2` module nselib's libssh2-utility
/// uses (nmap 7.93's functions and results). libssh2 runs in the child on byte
/// buffers (CNSEModules' ssh2.c); this Lua half carries those bytes over an
/// ordinary nmap socket, so every byte goes through the broker like any other
/// connection. As in nmap, a failing socket call raises its error ("EOF",
/// "TIMEOUT") out of whichever libssh2 function was waiting.
let bootstrapSSH2 = #"""
local rt, OP, S = ...
local nmap = S.nmap

local function load_libssh2()
  local core = require "nsebox_ssh2"
  local EAGAIN = core.EAGAIN
  local M = {}
  local Session = {__name = "ssh2"}
  Session.__index = Session

  local function session_of(s, name)
    if getmetatable(s) ~= Session then
      error("bad argument #1 to '" .. name .. "' (ssh2 expected, got " .. type(s) .. ")", 3)
    end
    return s
  end

  -- Sends what libssh2 wrote; with nothing to send, waits for the peer.
  local function move_bytes(s)
    local out = core.take(s.box)
    if #out > 0 then
      local ok, err = s.sock:send(out)
      if not ok then error(err, 0) end
      return
    end
    local ok, data = s.sock:receive()
    if not ok then error(data, 0) end
    core.feed(s.box, data)
  end

  -- Calls f(...) until it stops answering EAGAIN, moving bytes in between; what
  -- libssh2 wrote last goes out before the results come back.
  local function drive(s, f, ...)
    while true do
      local r = table.pack(f(...))
      if r[1] ~= EAGAIN then
        local out = core.take(s.box)
        if #out > 0 then
          local ok, err = s.sock:send(out)
          if not ok then error(err, 0) end
        end
        return table.unpack(r, 1, r.n)
      end
      move_bytes(s)
    end
  end

  function M.session_open(host, port)
    port = math.tointeger(tonumber(port))
    if not port then error("bad argument #2 to 'session_open' (number expected)", 2) end
    local s = setmetatable({box = core.new(), sock = nmap.new_socket()}, Session)
    local ok, err = s.sock:connect(host, port)
    if not ok then
      core.free(s.box)
      error(err, 0)
    end
    if drive(s, core.handshake, s.box) ~= 0 then
      core.free(s.box)
      s.sock:close()
      error("Unable to complete libssh2 handshake.", 0)
    end
    return s
  end

  function M.hostkey_hash(s, kind)
    local hash = core.hostkey_hash(session_of(s, "hostkey_hash").box, kind)
    if not hash then error("could not get hostkey hash", 0) end
    return hash
  end

  function M.set_timeout(s, ms)
    core.set_timeout(session_of(s, "set_timeout").box, ms)
  end

  function M.userauth_list(s, user)
    session_of(s, "userauth_list")
    local rc, list = drive(s, core.userauth_list, s.box, user)
    if rc == 0 and type(list) == "string" then
      local methods = {}
      for method in list:gmatch("[^,]+") do methods[#methods + 1] = method end
      return methods
    elseif rc == 0 then
      return "none_auth"
    end
    error("userauth_list: " .. core.last_error(s.box), 0)
  end

  function M.userauth_password(s, user, password)
    session_of(s, "userauth_password")
    if type(user) ~= "string" and type(user) ~= "number" then error("bad argument #2 to 'userauth_password' (string expected)", 2) end
    if type(password) ~= "string" and type(password) ~= "number" then error("bad argument #3 to 'userauth_password' (string expected)", 2) end
    return drive(s, core.userauth_password, s.box, tostring(user), tostring(password)) == 0
  end

  local function read_all(path)
    local f = io.open(path, "r")
    if not f then return nil end
    local data = f:read("a")
    f:close()
    return data
  end

  -- nmap reads the key files with libssh2; here they come through the broker
  -- (files named in script arguments are readable), then go to libssh2 as text.
  function M.userauth_publickey(s, user, private_key_file, passphrase, public_key_file)
    session_of(s, "userauth_publickey")
    if type(user) ~= "string" then error("bad argument #2 to 'userauth_publickey' (string expected)", 2) end
    if type(private_key_file) ~= "string" then error("bad argument #3 to 'userauth_publickey' (string expected)", 2) end
    local private_key = read_all(private_key_file)
    if not private_key then return false end
    local public_key
    if type(public_key_file) == "string" then
      public_key = read_all(public_key_file)
      if not public_key then return false end
    end
    passphrase = type(passphrase) == "string" and passphrase or nil
    return drive(s, core.userauth_publickey, s.box, user, private_key, passphrase, public_key) == 0
  end

  -- The key blob of an OpenSSH public key file ("ssh-rsa AAAA... comment").
  function M.read_publickey(path)
    local text = read_all(tostring(path))
    if not text then error("Error reading file", 0) end
    local blob = text:match("^[^\r\n ]*[\r\n ]([^\r\n ]*)") or ""
    return require("base64").dec(blob)
  end

  -- Whether the server would accept this public key for this user.
  function M.publickey_canauth(s, user, key)
    session_of(s, "publickey_canauth")
    if type(key) ~= "string" then error("Invalid Publickey", 0) end
    local rc, message = drive(s, core.publickey_canauth, s.box, tostring(user), key)
    if rc == core.PUBLICKEY_UNVERIFIED and message:sub(1, 8) == "Callback" then return true end
    if rc == core.AUTHENTICATION_FAILED or rc == core.PUBLICKEY_UNVERIFIED then return false end
    error("Invalid Publickey", 0)
  end

  function M.userauth_keyboard_interactive(s, user, prompt)
    session_of(s, "userauth_keyboard_interactive")
    local rc, err = drive(s, core.userauth_keyboard_interactive, s.box, tostring(user), prompt)
    if rc == 0 then return true end
    if err ~= nil then return false, err end
    return false
  end

  function M.session_close(s)
    session_of(s, "session_close")
    if s.closed then return end
    local rc = drive(s, core.disconnect, s.box)
    s.closed = true
    core.free(s.box)
    s.sock:close()
    if rc < 0 then error("unable to disconnect session", 0) end
  end

  -- Channels: open_channel asks for a pty ("vanilla"), as nmap 7.93 does.
  function M.open_channel(s)
    session_of(s, "open_channel")
    local rc, channel = drive(s, core.open_session, s.box)
    if not channel then error("Opening channel", 0) end
    if drive(s, core.request_pty, channel, "vanilla", nil, core.TERM_WIDTH, core.TERM_HEIGHT,
             core.TERM_WIDTH_PX, core.TERM_HEIGHT_PX) ~= 0 then
      error("Requesting pty", 0)
    end
    return channel
  end

  local function read_stream(s, channel, stream)
    session_of(s, "channel_read")
    local rc, data = drive(s, core.read, channel, stream)
    if rc > 0 then return data end
    if rc < 0 then error("Reading from channel", 0) end
    return nil
  end
  function M.channel_read(s, channel) return read_stream(s, channel, 0) end
  function M.channel_read_stderr(s, channel) return read_stream(s, channel, core.STDERR) end

  function M.channel_write(s, channel, data)
    session_of(s, "channel_write")
    if type(data) ~= "string" then error("Invalid buffer", 0) end
    local rc = drive(s, core.write, channel, data)
    if rc < 0 then error("Writing to channel", 0) end
    return rc
  end

  function M.channel_exec(s, channel, command)
    session_of(s, "channel_exec")
    if drive(s, core.process_startup, channel, "exec", tostring(command)) ~= 0 then
      error("Error executing command", 0)
    end
  end

  function M.channel_send_eof(s, channel)
    session_of(s, "channel_send_eof")
    if drive(s, core.send_eof, channel) ~= 0 then error("Error sending EOF", 0) end
  end

  function M.channel_eof(channel)
    local eof = core.eof(channel)
    if eof < 0 then error("Error checking for EOF", 0) end
    return eof ~= 0
  end

  function M.channel_close(s, channel)
    session_of(s, "channel_close")
    if drive(s, core.close, channel) ~= 0 then error("Error closing channel", 0) end
  end

  return M
end

package.preload.libssh2 = load_libssh2
"""#
