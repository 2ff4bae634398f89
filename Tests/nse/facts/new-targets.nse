description = "Test script: adds a target from the first host; the new host joins the scan."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local target = require "target"
  local nmap = require "nmap"
  if host.ip == "127.0.0.1" then
    local ok, n = target.add("127.0.0.2")
    return "added: " .. tostring(ok) .. " " .. tostring(n) .. " total=" .. tostring(nmap.new_targets_num())
  end
  return "scanned as a new target: " .. host.ip
end
