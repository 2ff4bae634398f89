description = "Test script: reports host-table fields that come from OS detection, ARP and traceroute."
categories = {"safe"}
hostrule = function() return true end
action = function(host)
  local out = {}
  out[#out + 1] = "targetname=" .. tostring(host.targetname) .. " name=" .. tostring(host.name)
  if host.os then
    for i, m in ipairs(host.os) do
      local c = m.classes[1]
      out[#out + 1] = string.format("os%d=%s/%s/%s/%s/%s/%s", i, m.name, c.vendor, c.osfamily, tostring(c.osgen), c.type, table.concat(c.cpe, ","))
    end
  else
    out[#out + 1] = "os=nil"
  end
  local mac = host.mac_addr
  out[#out + 1] = "mac=" .. (mac and mac:gsub(".", function(b) return string.format("%02x", b:byte()) end) or "nil")
  for i, hop in ipairs(host.traceroute or {}) do
    out[#out + 1] = string.format("hop%d=%s,%s", i, hop.ip, tostring(hop.times and hop.times.srtt))
  end
  out[#out + 1] = string.format("srtt=%s reason=%s", tostring(host.times and host.times.srtt), tostring(host.reason))
  return table.concat(out, "; ")
end
