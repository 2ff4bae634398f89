/// Part of the child's bootstrap (see Bootstrap.swift): script threads, the yield that
/// crosses a script's own coroutines, and mutexes and condition variables.
///
/// Every script thread is a coroutine. A call that needs the broker sends a request
/// and yields `YIELD, id` all the way up to the scheduler, even through coroutines the
/// script created itself (the wrapped resume passes such yields on). The scheduler
/// resumes the thread when the reply with that id arrives, so a socket call blocks
/// only its own thread.
let bootstrapScheduler = #"""
local rt, OP, S = ...
local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
local co_status, co_running = coroutine.status, coroutine.running
local pack, unpack, remove = table.pack, table.unpack, table.remove

local YIELD = setmetatable({}, {__name = "nsebox yield"})
S.YIELD = YIELD

-- A script's own coroutines: a yield that belongs to the scheduler is passed up.
local function relay(co, ok, ...)
  if ok and ... == YIELD then
    return relay(co, co_resume(co, co_yield(...)))
  end
  return ok, ...
end
function coroutine.resume(co, ...)
  return relay(co, co_resume(co, ...))
end
local wrapped_resume = coroutine.resume
function coroutine.wrap(f)
  local co = co_create(f)
  return function(...)
    local function out(ok, ...)
      if not ok then error((...), 2) end
      return ...
    end
    return out(wrapped_resume(co, ...))
  end
end

local ready = {}        -- threads to resume, with the values to pass
local parked = {}       -- request id (or local wait id) -> thread
local threads = {}      -- coroutine -> thread record
local live = 0
local local_wait_id = 0
S.current = nil

-- Hooks the bootstrap sets: called at every yield point and when a thread ends.
S.before_yield = function() end

local thread_count = 0
local function new_thread(fn, is_main, ...)
  -- The policy's `limit threads` (the broker puts it in the job).
  local limit = S.job and S.job.thread_limit
  if limit and live >= limit then error("nsebox policy: more than " .. limit .. " threads", 3) end
  thread_count = thread_count + 1
  local t = {co = co_create(fn), args = pack(...), main = is_main, owned = {}, id = thread_count}
  threads[t.co] = t
  live = live + 1
  ready[#ready + 1] = {t, t.args}
  return t
end
S.new_thread = new_thread

--- Sends a request to the broker and waits for its reply: a yield point.
function S.rpc(op, ...)
  S.before_yield()
  local id = rt.request(OP[op], ...)
  return co_yield(YIELD, id)
end

--- Parks the running thread until `wake` is called with the returned id.
function S.park()
  S.before_yield()
  local_wait_id = local_wait_id - 1
  return co_yield(YIELD, local_wait_id)
end
function S.park_id() return local_wait_id - 1 end
function S.wake(id, ...)
  local t = parked[id]
  if t then parked[id] = nil; ready[#ready + 1] = {t, pack(...)} end
end

local function finish(t, ok, err)
  live = live - 1
  t.dead = true
  t.error = (not ok) and err or nil
  for _, release in pairs(t.owned) do release(t) end
  threads[t.co] = nil
  if S.on_thread_end then S.on_thread_end(t, ok, err) end
end

local function step(t, args)
  S.current = t
  local r = pack(co_resume(t.co, unpack(args, 1, args.n)))
  S.current = nil
  if r[1] and r[2] == YIELD then
    parked[r[3]] = t
  elseif co_status(t.co) == "dead" then
    if t.main then S.main_result = r end
    finish(t, r[1], r[2])
  else
    -- A plain yield out of a script thread cannot be resumed (as in nmap).
    finish(t, false, "yielded unexpectedly and cannot be resumed")
    if t.main then S.main_result = {false, "yielded unexpectedly and cannot be resumed"} end
  end
end

--- Runs until the main thread has ended.
function S.run()
  while not S.main_result do
    if #ready > 0 then
      local item = remove(ready, 1)
      step(item[1], item[2])
    elseif next(parked) then
      local r = pack(rt.wait())
      local t = parked[r[1]]
      if t then
        parked[r[1]] = nil
        step(t, pack(unpack(r, 2, r.n)))
      end
    else
      -- Everything waits on something only this process could signal: deadlock.
      S.main_result = {false, "all script threads are waiting on each other (deadlock)"}
    end
  end
  return S.main_result
end

--- The running script thread (the scheduler's record, not a nested coroutine).
function S.thread() return S.current end

-- A mutex named by a string (or number) is shared by every script, as in nmap
-- where all scripts share one Lua state: the broker holds it.
local shared_mutexes = {}
local function shared_mutex(key, scope)
  local name = type(key) .. ":" .. tostring(key)  -- "registry ..." paths are strings too
  local m = shared_mutexes[name]
  if m then return m end
  local owner
  local function release(t)
    if owner ~= t then return end
    owner = nil
    t.owned[m] = nil
    rt.notify(OP.mutexUnlock, name, t.id)
  end
  m = function(op)
    local t = assert(S.current, "mutex used outside a script thread")
    if op == "lock" then
      -- Keyed by a registry table: the broker may lend that table's scope with
      -- the lock (the script reads it next), as if this process had asked.
      local _, lent = S.rpc("mutexLock", name, t.id, scope or "")
      if lent ~= nil then S.adopt_registry(scope, lent) end
      owner = t
      t.owned[m] = release
      return true
    elseif op == "trylock" then
      if rt.call(OP.mutexTryLock, name, t.id) then
        owner = t
        t.owned[m] = release
        return true
      end
      return false
    elseif op == "done" then
      if owner ~= t then error("Do not have a lock on this mutex", 2) end
      release(t)
      return true
    elseif op == "running" then
      return owner and owner.co or nil
    end
    error("bad mutex operation '" .. tostring(op) .. "'", 2)
  end
  shared_mutexes[name] = m
  return m
end

-- nmap.mutex: one per key object; "lock" waits in FIFO order, released when the
-- owning thread ends. Table keys are local to this script instance.
local mutexes = setmetatable({}, {__mode = "k"})
function S.mutex(key)
  if type(key) == "string" or type(key) == "number" then return shared_mutex(key) end
  local path = S.registry_paths and S.registry_paths[key]
  if path then return shared_mutex("registry " .. path, path:match("^global") and "global" or "host") end
  local m = mutexes[key]
  if m then return m end
  local owner, queue = nil, {}
  local function release(t)
    if owner ~= t then return end
    t.owned[m] = nil
    owner = nil
    local nxt = remove(queue, 1)
    if nxt then
      owner = nxt.thread
      owner.owned[m] = release
      S.wake(nxt.id)
    end
  end
  m = function(op)
    local t = assert(S.current, "mutex used outside a script thread")
    if op == "lock" then
      if owner == nil then
        owner = t; t.owned[m] = release
      elseif owner ~= t then
        queue[#queue + 1] = {thread = t, id = S.park_id()}
        S.park()
      end
      return true
    elseif op == "trylock" then
      if owner == nil then owner = t; t.owned[m] = release; return true end
      return false
    elseif op == "done" then
      if owner ~= t then error("Do not have a lock on this mutex", 2) end
      release(t)
      return true
    elseif op == "running" then
      return owner and owner.co or nil
    end
    error("bad mutex operation '" .. tostring(op) .. "'", 2)
  end
  mutexes[key] = m
  return m
end

-- nmap.condvar: "wait" parks; "signal" wakes one waiter; "broadcast" wakes all.
-- A waiter whose thread ends is dropped.
local condvars = setmetatable({}, {__mode = "k"})
function S.condvar(key)
  local c = condvars[key]
  if c then return c end
  local waiters = {}
  c = function(op)
    if op == "wait" then
      local t = assert(S.current, "condvar used outside a script thread")
      waiters[#waiters + 1] = S.park_id()
      S.park()
    elseif op == "signal" then
      local id = remove(waiters)
      if id then S.wake(id) end
    elseif op == "broadcast" then
      local all = waiters
      waiters = {}
      for _, id in ipairs(all) do S.wake(id) end
    else
      error("bad condvar operation '" .. tostring(op) .. "'", 2)
    end
  end
  condvars[key] = c
  return c
end
"""#
