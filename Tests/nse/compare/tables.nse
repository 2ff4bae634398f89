description = "Test script: reports fields of the host and port tables nmap hands to a portrule."
categories = {"safe"}
portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end
action = function(host, port)
  local nmap = require "nmap"
  local v = port.version or {}
  return string.format(
    "script=%s type=%s ip=%s name=[%s] port=%d/%s state=%s service=%s version.name=%s conf=%s tunnel=%s dtype=%s reason=%s verbosity=%d debugging=%d bin_ip=%d",
    SCRIPT_NAME, SCRIPT_TYPE, host.ip, tostring(host.name), port.number, port.protocol, port.state,
    tostring(port.service), tostring(v.name), tostring(v.name_confidence), tostring(v.service_tunnel),
    tostring(v.service_dtype), tostring(port.reason), nmap.verbosity(), nmap.debugging(), #host.bin_ip)
end
