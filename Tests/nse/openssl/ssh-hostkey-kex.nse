description = [[
Test script: fetches the SSH host key of every open TCP port with nselib's ssh2
library (Diffie-Hellman key exchange over openssl bignums, random bytes, MD5 and
SHA-256 fingerprints) and prints it, to compare nsebox with nmap.
]]
categories = {"safe"}

local ssh2 = require "ssh2"
local stdnse = require "stdnse"
local base64 = require "base64"

portrule = function(host, port) return port.protocol == "tcp" and port.state == "open" end

action = function(host, port)
  local out = {}
  for _, alg in ipairs { "ssh-ed25519", "ssh-rsa" } do
    local key = ssh2.fetch_host_key(host, port, alg)
    if key then
      out[#out + 1] = string.format("%s bits=%s md5=%s sha256=%s full=%s", alg, tostring(key.bits),
        stdnse.tohex(key.fingerprint), base64.enc(key.fp_sha256), key.full_key)
    else
      out[#out + 1] = alg .. ": none"
    end
  end
  return table.concat(out, "\n")
end
