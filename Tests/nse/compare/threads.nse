description = "Test script: worker threads, a mutex and a condition variable, each worker fetching over its own socket."
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local stdnse = require "stdnse"
  local results, done = {}, 0
  local lock = nmap.mutex("threads-test")
  local cv = nmap.condvar(results)
  local function worker(n)
    local s = nmap.new_socket()
    s:set_timeout(5000)
    s:connect(host, port)
    s:send("GET / HTTP/1.0\r\n\r\n")
    local ok, line = s:receive_buf("\r\n", false)
    s:close()
    lock "lock"
    results[n] = line
    done = done + 1
    lock "done"
    cv "signal"
  end
  for i = 1, 4 do stdnse.new_thread(worker, i) end
  while done < 4 do cv "wait" end
  return string.format("%d workers: %s | %s | %s | %s", done, results[1], results[2], results[3], results[4])
end
