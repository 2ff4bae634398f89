description = [[
Test script: parses the certificate given as hex-encoded DER in the script
argument cert-fields.der with nmap.socket.parse_ssl_certificate and prints every
field (sorted), to compare nsebox with nmap.
]]
categories = {"safe"}

local nmap = require "nmap"
local stdnse = require "stdnse"
local openssl = require "openssl"

hostrule = function(host) return true end

local function hex(s) return s and stdnse.tohex(s) or "nil" end

local function key_text(k)
  if type(k) == "table" then return "{" .. table.concat(k, ".") .. "}" end
  return tostring(k)
end

local function name_lines(out, label, name)
  if name == nil then out[#out + 1] = label .. " = nil"; return end
  local keys = {}
  for k in pairs(name) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return key_text(a) < key_text(b) end)
  for _, k in ipairs(keys) do
    out[#out + 1] = string.format("%s %s (%s) = %s", label, key_text(k), type(k), hex(name[k]))
  end
end

local function date_text(d)
  if type(d) ~= "table" then return type(d) .. " " .. tostring(d) end
  local keys = {}
  for k in pairs(d) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(d[k]) .. ":" .. math.type(d[k]) end
  return table.concat(parts, " ")
end

action = function(host)
  local out = {}
  local function add(k, v) out[#out + 1] = k .. " = " .. tostring(v) end
  local parse = nmap.socket.parse_ssl_certificate
  add("parse type", type(parse))
  add("garbage", tostring(parse("not a certificate")))
  add("empty", tostring(parse("")))

  local arg = stdnse.get_script_args(SCRIPT_NAME .. ".der")
  if not arg then return "no cert-fields.der argument" end
  local der = stdnse.fromhex(arg)
  local cert, err = parse(der)
  add("parsed", type(cert) .. " " .. tostring(err))
  if not cert then return table.concat(out, "\n") end
  add("pem given as input", tostring(parse(cert.pem)))
  add("trailing garbage", type(parse(der .. "junk")))

  name_lines(out, "subject", cert.subject)
  name_lines(out, "issuer", cert.issuer)
  add("sig_algorithm", cert.sig_algorithm)
  add("notBefore", date_text(cert.validity.notBefore))
  add("notAfter", date_text(cert.validity.notAfter))
  local vk = {}
  for k in pairs(cert.validity) do vk[#vk + 1] = k end
  table.sort(vk)
  add("validity keys", table.concat(vk, ","))
  add("pem", cert.pem)
  add("pem round trip", cert.pem:match("BEGIN CERTIFICATE") ~= nil)

  if cert.extensions then
    add("extensions", #cert.extensions)
    for i, e in ipairs(cert.extensions) do
      local keys = {}
      for k in pairs(e) do keys[#keys + 1] = k end
      table.sort(keys)
      add("extension " .. i .. " keys", table.concat(keys, ","))
      add("extension " .. i .. " name", e.name)
      add("extension " .. i .. " critical", e.critical)
      add("extension " .. i .. " error", e.error)
      add("extension " .. i .. " value", e.value)
    end
  else
    add("extensions", "nil")
  end

  local pk = cert.pubkey
  local pkeys = {}
  for k in pairs(pk) do pkeys[#pkeys + 1] = k end
  table.sort(pkeys)
  add("pubkey keys", table.concat(pkeys, ","))
  add("pubkey type", pk.type)
  add("pubkey bits", pk.bits .. " " .. math.type(pk.bits))
  if pk.type == "rsa" then
    add("exponent", openssl.bignum_bn2dec(pk.exponent) .. " " .. pk.exponent:num_bits())
    add("modulus", pk.modulus:tohex())
    add("modulus tostring", tostring(pk.modulus) == pk.modulus:tohex())
    add("modulus is BIGNUM", getmetatable(pk.modulus) == getmetatable(openssl.bignum_dec2bn("1")))
  elseif pk.type == "ec" then
    local cp = pk.ecdhparams.curve_params
    add("ec_curve_type", cp.ec_curve_type)
    add("curve", cp.curve)
  end

  for _, alg in ipairs { "md5", "sha1", "sha256", "SHA512", "md4", "ripemd160" } do
    add("digest " .. alg, hex(cert:digest(alg)))
  end
  add("digest unknown", select("#", cert:digest("nope")))
  add("type", type(cert))
  add("subject via index", cert.subject ~= nil and cert.nosuchfield == nil)
  add("digest is a function", type(cert.digest))
  return table.concat(out, "\n")
end
