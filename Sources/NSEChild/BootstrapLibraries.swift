/// Part of the child's bootstrap: the standard library as a script sees it. What could
/// reach outside the process is removed or routed through the broker; a call to a
/// removed function raises an error that names the sandbox, so a user sees why.
let bootstrapLibraries = #"""
local rt, OP, S = ...
local job = S.job

local function denied(what)
  return function()
    error("nsebox sandbox: " .. what .. " is not allowed", 2)
  end
end
S.denied = denied

-- os: time and dates only; an empty environment.
os.execute = denied("os.execute")
os.exit = denied("os.exit")
os.remove = denied("os.remove")
os.rename = denied("os.rename")
os.tmpname = denied("os.tmpname")
os.setlocale = denied("os.setlocale")
os.getenv = function() return nil end

-- Output goes to the broker's log, never into the report.
local function log(channel, ...)
  local parts = table.pack(...)
  for i = 1, parts.n do parts[i] = tostring(parts[i]) end
  rt.notify(OP.log, channel, table.concat(parts, "\t"))
end
print = function(...) log("print", ...) end

-- io: read-only files, fetched through the broker, which checks every path.
local File = {}
File.__index = File
File.__name = "FILE*"
local function read_one(f, fmt)
  if type(fmt) == "number" then
    if f.pos > #f.data then return nil end
    local s = f.data:sub(f.pos, f.pos + fmt - 1)
    f.pos = f.pos + #s
    return s
  end
  fmt = tostring(fmt):gsub("^%*", "")
  local c = fmt:sub(1, 1)
  if c == "a" then
    local s = f.data:sub(f.pos)
    f.pos = #f.data + 1
    return s
  elseif c == "l" or c == "L" then
    if f.pos > #f.data then return nil end
    local e = f.data:find("\n", f.pos, true)
    local line = f.data:sub(f.pos, e or #f.data)
    f.pos = (e or #f.data) + 1
    if c == "l" then line = line:gsub("\n$", "") end
    return line
  elseif c == "n" then
    local s, e = f.data:find("^%s*[-+]?[%x.xXeEpP]+", f.pos)
    if not s then return nil end
    f.pos = e + 1
    return tonumber(f.data:sub(s, e))
  end
  error("bad argument to 'read' (invalid format)", 3)
end
function File:read(...)
  if self.closed then error("attempt to use a closed file", 2) end
  local n = select("#", ...)
  if n == 0 then return read_one(self, "l") end
  local out = {}
  for i = 1, n do
    out[i] = read_one(self, (select(i, ...)))
    if out[i] == nil then return table.unpack(out, 1, i) end
  end
  return table.unpack(out, 1, n)
end
function File:lines(...)
  local fmts = table.pack(...)
  if fmts.n == 0 then fmts = {"l", n = 1} end
  return function() return self:read(table.unpack(fmts, 1, fmts.n)) end
end
function File:seek(whence, offset)
  whence, offset = whence or "cur", offset or 0
  local base = (whence == "set" and 0) or (whence == "end" and #self.data) or (self.pos - 1)
  self.pos = math.max(0, base + offset) + 1
  return self.pos - 1
end
function File:close() self.closed = true; return true end
function File:write() return nil, "nsebox sandbox: files are read-only" end
function File:setvbuf() return true end
function File:flush() return true end
File.__close = File.close
File.__tostring = function(f) return f.closed and "file (closed)" or "file (nsebox)" end

S.read_file = function(path)
  local content, err = rt.call(OP.readDataFile, tostring(path))
  return content, err
end

io.open = function(path, mode)
  mode = mode or "r"
  if type(mode) ~= "string" or not mode:match("^r") or mode:find("[wa+]") then
    error("nsebox sandbox: io.open(" .. tostring(path) .. ", \"" .. tostring(mode) .. "\"): writing files is not allowed", 2)
  end
  local content, err = S.read_file(path)
  if not content then return nil, tostring(path) .. ": " .. tostring(err), 2 end
  return setmetatable({data = content, pos = 1}, File)
end
io.lines = function(path, ...)
  if path == nil then return function() return nil end end
  local f, err = io.open(path)
  if not f then error(err, 2) end
  return f:lines(...)
end
io.popen = denied("io.popen")
io.tmpfile = denied("io.tmpfile")
io.input = function() return nil end
io.output = function() return io.stdout end
io.read = function() return nil end
local Sink = {write = function(self, ...) log(self.channel, ...); return self end,
              close = function() return true end, flush = function() return true end,
              setvbuf = function() return true end}
Sink.__index = Sink
io.stdout = setmetatable({channel = "print"}, Sink)
io.stderr = setmetatable({channel = "print"}, Sink)
io.stdin = setmetatable({channel = "print", read = function() return nil end}, Sink)
io.write = function(...) log("print", ...); return io.stdout end

-- Lua 5.3 behaviour nselib relies on, on Lua 5.4: string.unpack's "z" on a string
-- with no terminating zero returned the rest of the string (mongodb.lua checks the
-- position it got back); 5.4 raises "unfinished string". Retry as 5.3 read it.
local raw_unpack = string.unpack
string.unpack = function(fmt, data, pos)
  local r = table.pack(pcall(raw_unpack, fmt, data, pos))
  if r[1] then return table.unpack(r, 2, r.n) end
  if type(data) == "string" and tostring(r[2]):find("unfinished string for format 'z'", 1, true) then
    return raw_unpack(fmt, data .. "\0", pos)
  end
  error(r[2], 0)
end

-- Code loading: text chunks only, whatever mode is asked for.
local raw_load = load
local BINARY = "nsebox sandbox: binary chunks are not allowed"
load = function(chunk, name, mode, env)
  if type(chunk) == "string" and chunk:byte(1) == 27 then return nil, BINARY end
  if type(chunk) == "function" then
    -- A reader function: collect its pieces, then check the whole chunk.
    local parts = {}
    while true do
      local piece = chunk()
      if piece == nil or piece == "" then break end
      parts[#parts + 1] = piece
    end
    chunk = table.concat(parts)
    if chunk:byte(1) == 27 then return nil, BINARY end
  end
  if env ~= nil then return raw_load(chunk, name, "t", env) end
  return raw_load(chunk, name, "t")
end
loadfile = function(path, mode, env)
  local content, err = S.read_file(path)
  if not content then return nil, "cannot open " .. tostring(path) .. ": " .. tostring(err) end
  return load(content, "@" .. tostring(path), "t", env)
end
dofile = function(path)
  local f, err = loadfile(path)
  if not f then error(err, 2) end
  return f()
end
local raw_dump = string.dump
string.dump = denied("string.dump")

-- Modules: nselib through the broker, lpeg built in, no C modules.
package.loadlib = denied("package.loadlib")
package.cpath = ""
package.path = ""
local preload = package.preload
package.searchers = {
  function(name)
    local f = preload[name]
    if f then return f, ":preload:" end
    return "no field package.preload['" .. name .. "']"
  end,
  function(name)
    -- The broker sends an nselib module's source, or the bytecode its own compile
    -- job made of it ("b"): the only binary chunks this process loads. A
    -- zygote's job carries the sources of the modules it loads, or their
    -- bytecode from the broker's cache ("b"); with dump_modules set, the
    -- zygote keeps the bytecode of what it compiles, for that cache.
    local given = job.sources and job.sources[name]
    local source, chunkname, mode
    if type(given) == "table" and type(given[1]) == "string" and type(given[2]) == "string" then
      source, chunkname, mode = given[1], given[2], given[3] == "b" and "b" or "t"
    else
      given = nil
      source, chunkname, mode = rt.call(OP.loadModule, name)
    end
    if not source then return tostring(chunkname) end
    local f, err = raw_load(source, chunkname, mode == "b" and "b" or "t")
    local repair = false
    if not f and given and mode == "b" then
      -- Cached bytecode that does not load: the source instead, and its
      -- bytecode back to the broker in place of the bad one.
      source, chunkname, mode = rt.call(OP.loadModule, name)
      if not source then return tostring(chunkname) end
      f, err = raw_load(source, chunkname, mode == "b" and "b" or "t")
      repair = true
    end
    if not f then error(err, 0) end
    if given and mode ~= "b" and (job.dump_modules or repair) then
      local code = raw_dump(f)
      S.dumped = S.dumped or {}
      if S.dump_fits(code) then S.dumped[name] = code end
    end
    if S.cold_heap and name:find("^data%.") then
      -- In the zygote, nselib's bulk data (data.idnaMappings: about 700 KiB of
      -- tables, which idna requires) goes into its cold heap, which no fork
      -- copies and an instance maps only where it reads (coldheap.c).
      local load_data = f
      f = function(...)
        S.cold_heap(true)
        local r = table.pack(pcall(load_data, ...))
        S.cold_heap(false)
        if not r[1] then error(r[2], 0) end
        return table.unpack(r, 2, r.n)
      end
    end
    return f, chunkname:sub(2)
  end,
}

-- The bytecode the zygote sends the broker (modules and scripts) in one message:
-- at most 12 MiB in all, well under a frame's limit.
function S.dump_fits(code)
  S.dump_room = (S.dump_room or 12 << 20) - #code
  return S.dump_room >= 0
end

-- The zygote's job's scripts (nmap's own install only, path -> {source} or
-- {source, the broker's cached bytecode of it}): cached bytecode that loads is
-- kept as it is; any other script is compiled here and dumped with debug
-- information kept, for the broker. Either way the loaded chunk stays in
-- S.script_chunks, and an instance forked from here runs it (S.preloaded_script)
-- instead of loading the script again. One that does not compile is left out,
-- so that its instances report the error; if the broker holds cached bytecode
-- of it (which did not load either), its instances still come here for the
-- chunk, and get the compiler's message from S.script_errors.
S.script_chunks = {}
S.script_errors = {}
function S.compile_scripts(scripts)
  local dumped
  for path, given in pairs(scripts) do
    local source, cached = given[1], given[2]
    local f = cached and raw_load(cached, "@" .. path, "b")
    if not f then
      local err
      f, err = raw_load(source, "@" .. path, "t")
      S.script_errors[path] = err
      if f then
        local code = raw_dump(f)
        dumped = dumped or {}
        if S.dump_fits(code) then dumped[path] = code end
      end
    end
    S.script_chunks[path] = f or nil
  end
  return dumped
end

-- An instance's script as the zygote loaded it, its globals `env`: the chunk
-- is this process's own copy (a fork's), so setting its _ENV here changes no
-- other instance's. Nil and why when the zygote has none of that path.
local setupvalue = debug.setupvalue
function S.preloaded_script(path, env)
  local chunk = S.script_chunks[path]
  if not chunk then
    return nil, S.script_errors[path] or ("nsebox: the zygote holds no compiled " .. tostring(path))
  end
  setupvalue(chunk, 1, env)
  return chunk
end

-- A job's script_bytecode: what the broker had of the zygote's compile, for a
-- child that was not forked from the zygote; the only binary chunk an instance
-- loads besides nselib's.
function S.load_script_bytecode(code, chunkname, env)
  return raw_load(code, chunkname, "b", env)
end

-- The compile job (no script): nselib modules in, their bytecode out, with debug
-- information kept so that errors name the file and line as from source.
function S.compile_modules()
  local compiled = {}
  for _, name in ipairs(job.modules or {}) do
    local source, chunkname, mode = rt.call(OP.loadModule, tostring(name))
    if source and mode ~= "b" then
      local f = raw_load(source, chunkname, "t")
      if f then compiled[name] = raw_dump(f) end
    end
  end
  return {status = "ok", compiled = compiled}
end
"""#
