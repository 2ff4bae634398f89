description = "Test script: reports what version detection told the port table."
categories = {"safe"}
portrule = function(host, port) return port.state == "open" end
action = function(host, port)
  local v = port.version or {}
  return string.format("service=%s name=%s product=%s version=%s extrainfo=%s ostype=%s conf=%s dtype=%s tunnel=%s cpe=%s reason=%s",
    tostring(port.service), tostring(v.name), tostring(v.product), tostring(v.version), tostring(v.extrainfo),
    tostring(v.ostype), tostring(v.name_confidence), tostring(v.service_dtype), tostring(v.service_tunnel),
    v.cpe and table.concat(v.cpe, " ") or "none", tostring(port.reason))
end
