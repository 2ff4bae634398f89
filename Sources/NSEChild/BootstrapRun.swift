/// Part of the child's bootstrap: the engine's own stdnse functions and globals,
/// strict globals, and the ways of running a job (`S.modes`): loading the script,
/// running its rule and action in the main script thread, and turning what the
/// action returned into nmap's output. The zygote runs it once, before it loads
/// nselib (nmap applies strict globals before any library loads too), so an
/// instance starts at `bootstrapRun`.
let bootstrapEngine = #"""
local rt, OP, S = ...
local job = S.job  -- the table each instance's job is swapped into
local nmap = S.nmap

-- strict globals and the engine's own stdnse functions, as nmap sets them up.
local stdnse = require "stdnse"
rawset(stdnse, "new_thread", function(main, ...)
  assert(type(main) == "function", "function expected")
  local parent = S.thread()
  if parent == nil then error("stdnse.new_thread can only be run from an active script") end
  local t = S.new_thread(main, false, ...)
  local function info() return coroutine.status(t.co), t.error end
  return t.co, info
end)
rawset(stdnse, "base", function() local t = S.thread(); return t and S.main_thread and S.main_thread.co end)
rawset(stdnse, "gettid", function() local t = S.thread(); return t and tostring(t.co) end)
rawset(stdnse, "getid", function() return job.script_name end)
rawset(stdnse, "getinfo", function() local t = S.thread(); return t and (job.script_name .. " " .. tostring(t.co)) end)
rawset(stdnse, "gethostport", function() return S.host, S.port end)
rawset(stdnse, "isworker", function() local t = S.thread(); return t ~= nil and not t.main end)
local QUIET = {}
local quiet_reason  -- why the last silent_require failed (for the compat report)
rawset(stdnse, "silent_require", function(...)
  local ok, mod = pcall(require, ...)
  if not ok then
    if mod ~= QUIET then quiet_reason = tostring(mod) end  -- else a nested silent_require's
    error(QUIET)
  end
  return mod
end)
-- nmap's Lua state has these as globals too, not only through require.
rawset(_G, "nmap", nmap)
rawset(_G, "lpeg", require "lpeg")
rawset(_G, "bit32", require "bit32")  -- Lua 5.3's compatibility library, which nmap's Lua has
rawset(_G, "zlib", require "zlib")
require "strict" (_G)

-- Lua values -> normal output text: a sequence's items first, then string keys,
-- each nested level two more spaces in.
local function render(v, indent)
  if type(v) ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  local lines = {}
  for _, item in ipairs(v) do
    lines[#lines + 1] = "\n" .. indent .. render(item, indent .. "  ")
  end
  for k, item in pairs(v) do
    if type(k) == "string" then
      lines[#lines + 1] = "\n" .. indent .. k .. ": " .. render(item, indent .. "  ")
    end
  end
  return table.concat(lines)
end

-- Lua values -> the ordered form the broker keeps for XML and JSON output:
-- a table becomes {o = {key1, value1, key2, value2, ...}}, keys false for sequence items.
local function structure(v, depth)
  if type(v) ~= "table" then
    if type(v) == "number" or type(v) == "boolean" or type(v) == "string" then return v end
    return tostring(v)
  end
  local mt = getmetatable(v)
  if mt and mt.__tostring or depth > 50 then return tostring(v) end
  local seq = {}
  for _, item in ipairs(v) do seq[#seq + 1] = false; seq[#seq + 1] = structure(item, depth + 1) end
  for k, item in pairs(v) do
    if type(k) == "string" then seq[#seq + 1] = k; seq[#seq + 1] = structure(item, depth + 1) end
  end
  return {o = seq}
end

local function build_host(h)
  if not h then return nil end
  local host = {}
  for k, v in pairs(h) do host[k] = v end
  host.registry = S.registry_proxy("host")
  return host
end

local function load_script()
  local env = setmetatable({
    SCRIPT_PATH = job.script_path, SCRIPT_NAME = job.script_name, SCRIPT_TYPE = job.script_type,
  }, {__index = _G})
  local chunk, err
  if job.script_preloaded then
    chunk, err = S.preloaded_script(job.script_path, env)
  elseif job.script_bytecode then
    chunk, err = S.load_script_bytecode(job.script_bytecode, "@" .. job.script_path, env)
  else
    chunk, err = load(job.script_source, "@" .. job.script_path, "t", env)
  end
  if not chunk then error(err, 0) end
  return env, chunk
end

local RULES = {"prerule", "hostrule", "portrule", "postrule"}

-- Describing: what the engine needs to know of a script before running it.
local function describe()
  local env, chunk = load_script()
  local ok, err = pcall(chunk)
  if not ok then
    if err == QUIET then return {status = "skip", message = "a required library is missing"} end
    return {status = "error", message = tostring(err)}
  end
  local rules = {}
  for _, r in ipairs(RULES) do
    if type(rawget(env, r)) == "function" then rules[#rules + 1] = r end
  end
  local function strings(t)
    local out = {}
    if type(t) == "table" then for _, v in ipairs(t) do out[#out + 1] = tostring(v) end end
    return out
  end
  if type(rawget(env, "action")) ~= "function" then
    return {status = "error", message = job.script_path .. " is missing required field: 'action'"}
  end
  return {
    status = "ok", rules = rules,
    categories = strings(rawget(env, "categories")),
    dependencies = strings(rawget(env, "dependencies")),
    description = tostring(rawget(env, "description") or ""),
    author = type(rawget(env, "author")) == "table" and table.concat(strings(rawget(env, "author")), ", ") or tostring(rawget(env, "author") or ""),
    license = tostring(rawget(env, "license") or ""),
  }, env
end

-- Running: the rule, then the action, in the main script thread.
local function instance()
  S.host = build_host(job.host)
  S.port = job.port
  local args = {}
  if S.host then args[1] = S.host end
  if S.port then args[2] = S.port end
  local function main()
    local env, chunk = load_script()
    chunk()
    local rule = rawget(env, job.rule)
    if type(rule) ~= "function" then return "no-rule" end
    if not job.forced and not rule(table.unpack(args)) then return "no-match" end
    S.action_started = true
    if (job.debugging or 0) > 0 then
      local against = ""
      if S.host then
        local where = S.host.ip .. (S.port and (":" .. S.port.number) or "")
        against = " against " .. (S.host.targetname and (S.host.targetname .. " (" .. where .. ")") or where)
      end
      nmap.log_write("stdout", "Starting " .. job.script_name .. against .. ".")
    end
    return "done", rawget(env, "action")(table.unpack(args))
  end
  S.main_thread = S.new_thread(main, true)
  local r = S.run()
  S.before_yield()
  local ok, what, r1, r2 = r[1], r[2], r[3], r[4]
  if not ok then
    local err = what
    if type(err) == "table" and err.errtype == "nmap.new_try" then
      return {status = "try", message = tostring(err.message)}
    end
    if err == QUIET then return {status = "skip", message = "a required library is missing"} end
    local msg = debug.traceback(S.main_thread.co, tostring(err))
    return {status = "error", message = msg}
  end
  if what ~= "done" then return {status = what} end
  local tab, str
  if r2 ~= nil then
    tab, str = r1, tostring(r2)
  elseif type(r1) == "string" then
    str = r1
  elseif r1 ~= nil then
    tab = r1
    str = render(r1, "  ")
  end
  if str == nil then return {status = "empty"} end
  return {status = "output", output = str, structured = tab ~= nil and structure(tab, 0) or nil}
end

-- Evaluating rules (nsebox compat): load the script as describe does, then call
-- each of its rules on the sample host and ports in one script thread, each call
-- protected, and report every result.
local function rules()
  local described
  local calls = {}
  local function main()
    local ok, d, env = pcall(describe)
    if not ok then d = {status = "error", message = tostring(d)} end
    described = d
    if d.status ~= "ok" then return end
    local host = build_host(job.host)
    local samples = {}
    for _, p in ipairs(job.sample_ports or {}) do samples[#samples + 1] = p end
    for _, r in ipairs(d.rules) do
      local argsets
      if r == "hostrule" then argsets = {{host}}
      elseif r == "portrule" then
        argsets = {}
        for _, p in ipairs(samples) do argsets[#argsets + 1] = {host, p, sample = p.number .. "/" .. p.protocol} end
      else argsets = {{}} end
      for _, a in ipairs(argsets) do
        S.host, S.port = a[1], a[2]
        rawset(env, "SCRIPT_TYPE", r)  -- as nmap sets it for the rule's thread
        local call = {rule = r, sample = a.sample}
        local okc, v = pcall(rawget(env, r), table.unpack(a, 1, 2))
        if okc then
          call.value = v and true or false
        else
          if type(v) == "table" and v.errtype == "nmap.new_try" then v = v.message end
          call.error = tostring(v)
        end
        calls[#calls + 1] = call
      end
    end
  end
  S.main_thread = S.new_thread(main, true)
  local r = S.run()
  S.before_yield()
  local d = described or {status = "error", message = tostring(r[2])}
  if d.status == "skip" then
    return {status = "error", message = "a required library is missing: " .. tostring(quiet_reason)}
  end
  if d.status ~= "ok" then return {status = "error", message = d.message} end
  if not r[1] then return {status = "error", message = "while loading the script for its rules: " .. tostring(r[2])} end
  return {status = "ok", rules = d.rules, calls = calls}
end

S.modes = {describe = describe, instance = instance, rules = rules, compile = S.compile_modules}
"""#

/// The bootstrap's last part, the only one an instance forked from the zygote
/// runs: the job's random seed, then its mode, then its result.
let bootstrapRun = #"""
local rt, OP, S = ...
local job = S.job
-- math.random from the instance's seeded stream too, so a replay repeats it.
if job.random_seed then math.randomseed(string.unpack("<i8i8", rt.random_bytes(16))) end
local ok, result = pcall(S.modes[job.mode] or S.modes.instance)
if not ok then result = {status = "error", message = tostring(result)} end
rt.notify(OP.result, result)
"""#
