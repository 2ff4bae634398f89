description = [[
Test script: each socket operation is bounded by the timeout set when it
starts, however long the operations before it took and whatever timeout they
had. The server (SocketTimeoutTests) answers a line "N" with "ok" after N ms and
never answers "never".
]]
categories = {"safe"}

portrule = function(host, port) return port.protocol == "tcp" end

local function ask(s, what)
  local sent, err = s:send(what .. "\n")
  if not sent then return "send:" .. tostring(err) end
  local ok, line = s:receive_buf("\n", false)
  return tostring(line)
end

action = function(host, port)
  local s = nmap.new_socket()
  s:set_timeout(2000)
  assert(s:connect(host, port))
  local answers = {}
  answers[#answers + 1] = ask(s, "0")
  answers[#answers + 1] = ask(s, "1200")
  -- Ends past the first operation's deadline, within its own.
  answers[#answers + 1] = ask(s, "1200")
  s:set_timeout(60000)
  -- Outlasts every deadline of the 2 s timeout.
  answers[#answers + 1] = ask(s, "1500")
  -- A shorter timeout than the operation before had.
  s:set_timeout(500)
  local started = nmap.clock_ms()
  answers[#answers + 1] = ask(s, "never")
  local waited = nmap.clock_ms() - started
  s:close()
  return table.concat(answers, " ") .. (waited < 30000 and ", within the last timeout" or (", after %d ms"):format(waited))
end
