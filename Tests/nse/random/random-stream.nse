description = [[
Test script: the instance's random bytes, from nmap.get_random_bytes and then
openssl.rand_bytes (one stream, keyed by the seed the audit log records).
]]
categories = {"safe"}
hostrule = function() return true end
action = function()
  local openssl = require "openssl"
  local bytes = nmap.get_random_bytes(40) .. openssl.rand_bytes(90)
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
