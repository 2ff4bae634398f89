description = [[
Test script: prints deterministic results of the openssl module (digests, HMAC,
bignums, ciphers incl. the ones OpenSSL 3 keeps in its legacy provider,
DES_string_to_key, error messages), one per line, to compare nsebox with nmap.
]]
categories = {"safe"}

local openssl = require "openssl"
local stdnse = require "stdnse"

hostrule = function(host) return true end

local function hex(s) return s and stdnse.tohex(s) or "nil" end

-- The error message without its "file:line:" position.
local function err(f, ...)
  local ok, e = pcall(f, ...)
  if ok then return "no error: " .. type(e) end
  return (tostring(e):gsub("^[^:]*:%d+: ", ""))
end

action = function(host)
  local out = {}
  local function add(k, v) out[#out + 1] = k .. " = " .. tostring(v) end

  local msgs = { "", "abc", "The quick brown fox jumps over the lazy dog", string.rep("\0\1\255", 50) }
  for i, m in ipairs(msgs) do
    add("md4 " .. i, hex(openssl.md4(m)))
    add("md5 " .. i, hex(openssl.md5(m)))
    add("sha1 " .. i, hex(openssl.sha1(m)))
    add("ripemd160 " .. i, hex(openssl.ripemd160(m)))
    for _, alg in ipairs { "sha256", "SHA512", "sha224", "sha384", "md4", "MD5", "ripemd160", "whirlpool", "sha3-256", "RSA-SHA1" } do
      add("digest " .. alg .. " " .. i, hex(openssl.digest(alg, m)))
    end
  end
  for _, alg in ipairs { "md5", "MD5", "sha1", "SHA1", "sha256", "sha512", "md4", "ripemd160", "whirlpool" } do
    add("hmac " .. alg, hex(openssl.hmac(alg, "key", "The quick brown fox jumps over the lazy dog")))
    add("hmac long key " .. alg, hex(openssl.hmac(alg, string.rep("k", 200), "")))
  end
  add("smbauth ntlm hash", hex(openssl.md4("p\0a\0s\0s\0w\0o\0r\0d\0")))

  -- bignums
  local a = openssl.bignum_dec2bn("123456789012345678901234567890")
  local b = openssl.bignum_hex2bn("DEADBEEFcafe")
  local m = openssl.bignum_dec2bn("1000000007")
  add("a dec", openssl.bignum_bn2dec(a))
  add("a hex", openssl.bignum_bn2hex(a))
  add("a tostring", tostring(a))
  add("a bin", hex(openssl.bignum_bn2bin(a)))
  add("a bits bytes", a:num_bits() .. " " .. a:num_bytes() .. " " .. math.type(a:num_bits()))
  add("b todec tohex", b:todec() .. " " .. b:tohex())
  add("b tobin", hex(b:tobin()))
  add("add", openssl.bignum_add(a, b):todec())
  add("mod_exp", openssl.bignum_mod_exp(a, b, m):todec())
  add("mod_exp dh", openssl.bignum_mod_exp(openssl.bignum_dec2bn("2"), openssl.bignum_dec2bn("1234567"),
    openssl.bignum_hex2bn("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1")):tohex())
  local q, r = openssl.bignum_div(a, m)
  add("div", q:todec() .. " rem " .. r:todec())
  add("div by zero", select("#", openssl.bignum_div(a, openssl.bignum_dec2bn("0"))))
  add("bin2bn", openssl.bignum_bin2bn("\1\0\0"):todec())
  add("bin2bn empty", openssl.bignum_bin2bn(""):todec() .. " [" .. hex(openssl.bignum_bin2bn(""):tobin()) .. "] "
    .. openssl.bignum_bin2bn(""):tohex())
  add("negative", openssl.bignum_dec2bn("-42"):tohex() .. " " .. openssl.bignum_dec2bn("-42"):todec())
  add("bad dec", openssl.bignum_dec2bn("xyz"):todec())
  local c = openssl.bignum_dec2bn("0")
  openssl.bignum_set_bit(c, 70)
  c:set_bit(3)
  add("set_bit", c:todec() .. " " .. tostring(c:is_bit_set(70)) .. " " .. tostring(openssl.bignum_is_bit_set(c, 4)))
  c:clear_bit(70)
  openssl.bignum_clear_bit(c, 3)
  add("clear_bit", c:todec() .. " " .. c:num_bits() .. " " .. openssl.bignum_num_bytes(c))
  add("is_prime", tostring(m:is_prime()) .. " " .. tostring(openssl.bignum_is_prime(a)))
  local s1, s2 = openssl.bignum_is_safe_prime(openssl.bignum_dec2bn("13"))
  add("is_safe_prime 13", tostring(s1) .. " " .. tostring(s2))
  s1, s2 = openssl.bignum_is_safe_prime(openssl.bignum_dec2bn("23"))
  add("is_safe_prime 23", tostring(s1) .. " " .. tostring(s2))
  local rnd = openssl.bignum_rand(64)
  add("rand bits<=64", tostring(rnd:num_bits() <= 64))
  add("pseudo_rand bits<=100", tostring(openssl.bignum_pseudo_rand(100):num_bits() <= 100))
  add("metatable", getmetatable(a).__index == getmetatable(a))
  add("type", type(a))

  add("rand_bytes", #openssl.rand_bytes(33) .. " " .. #openssl.rand_pseudo_bytes(7) .. " " .. #openssl.rand_bytes(0))

  -- ciphers
  local key16, iv16 = "0123456789abcdef", "fedcba9876543210"
  local key24 = "0123456789abcdefghijklmn"
  local plain = "Attack at dawn! Attack at dawn!!"
  local function rt(alg, key, iv, data, pad)
    local ok, ct = pcall(openssl.encrypt, alg, key, iv, data, pad)
    if not ok then return "encrypt error: " .. tostring(ct):gsub("^[^:]*:%d+: ", "") end
    local ok2, pt = pcall(openssl.decrypt, alg, key, iv, ct, pad)
    if not ok2 then return hex(ct) .. " decrypt error: " .. tostring(pt):gsub("^[^:]*:%d+: ", "") end
    return hex(ct) .. (pt == data and " ok" or " MISMATCH " .. hex(pt))
  end
  add("aes-128-cbc", rt("aes-128-cbc", key16, iv16, plain, false))
  add("aes-128-cbc pad", rt("AES-128-CBC", key16, iv16, "short", true))
  add("aes-128-ecb", rt("aes-128-ecb", key16, "", plain:sub(1, 16), false))
  add("aes-192-cbc nil iv", rt("aes-192-cbc", key24, nil, plain, true))
  add("aes-256-ctr", rt("aes-256-ctr", key16 .. key16, iv16, "odd length text", false))
  add("des-ede3-cbc", rt("DES-EDE3-CBC", key24, "12345678", plain, false))
  add("des-ede3-cbc pad", rt("des-ede3-cbc", key24, "12345678", "x", true))
  add("des-ede-cbc", rt("des-ede-cbc", key16, "12345678", plain, true))
  add("DES", rt("DES", "\x10\x20\x30\x40\x50\x60\x70\x80", nil, "KGS!@#$%"))
  add("des-ecb", rt("des-ecb", "abcdefgh", nil, "8 bytes!12345678", false))
  add("des-cbc", rt("DES-CBC", "abcdefgh", "ivivivIV", plain, true))
  add("des-cfb", rt("des-cfb", "abcdefgh", "ivivivIV", "not a multiple", false))
  add("des-ofb", rt("des-ofb", "abcdefgh", "ivivivIV", "not a multiple", false))
  add("desx", rt("desx", key24, "ivivivIV", plain, true))
  add("cast5-cbc", rt("cast5-cbc", key16, "ivivivIV", plain, true))
  add("cast5-cbc short key", rt("cast5-cbc", "0123456789", "ivivivIV", plain, true))
  add("cast5-ecb", rt("cast5-ecb", key16, nil, plain, true))
  add("cast5-cfb", rt("cast5-cfb", key16, "ivivivIV", "odd text", false))
  add("cast5-ofb", rt("cast5-ofb", key16, "ivivivIV", "odd text", false))
  add("bf-cbc", rt("bf-cbc", key16, "ivivivIV", plain, true))
  add("blowfish long key", rt("blowfish", key24 .. key24, "ivivivIV", plain, true))
  add("bf-ecb", rt("bf-ecb", key16, "", plain, true))
  add("bf-cfb", rt("bf-cfb", key16, "ivivivIV", "odd text", false))
  add("bf-ofb", rt("bf-ofb", key16, "ivivivIV", "odd text", false))
  add("rc4", rt("rc4", "Key", nil, "Plaintext", false))
  add("rc4-40", rt("rc4-40", "12345", nil, "Plaintext", false))
  add("seed-cbc", rt("seed-cbc", key16, iv16, plain, true))
  add("seed-ecb", rt("seed-ecb", key16, nil, plain, false))
  add("seed-cfb", rt("seed-cfb", key16, iv16, "odd text", false))
  add("seed-ofb", rt("seed-ofb", key16, iv16, "odd text", false))
  add("rc2-cbc", rt("rc2-cbc", key16, "ivivivIV", plain, true))
  add("rc2-ecb", rt("rc2-ecb", key16, nil, plain, true))
  add("rc2-40-cbc", rt("rc2-40-cbc", "12345", "ivivivIV", plain, true))
  add("rc2-64-cbc", rt("rc2-64-cbc", "12345678", "ivivivIV", plain, true))
  add("rc2-cfb", rt("rc2-cfb", key16, "ivivivIV", "odd text", false))
  add("iv starting with NUL", rt("aes-128-cbc", key16, "\0" .. iv16:sub(2), plain, false))
  add("all-zero iv", rt("aes-128-cbc", key16, string.rep("\0", 16), plain, false))
  add("des nul iv", rt("des-cbc", "abcdefgh", "\0vivivIV", plain, true))
  add("bad iv length", err(openssl.encrypt, "aes-128-cbc", key16, "short", plain))
  add("bad key length", err(openssl.encrypt, "aes-128-cbc", "short", iv16, plain))
  add("unpadded partial", err(openssl.encrypt, "aes-128-cbc", key16, iv16, "abc", false))
  add("bad padding", err(openssl.decrypt, "aes-128-cbc", key16, iv16, string.rep("A", 16), true))
  add("unknown cipher", err(openssl.encrypt, "nope-cipher", key16, iv16, plain))
  add("unknown digest", err(openssl.digest, "nope", "x"))
  add("unknown hmac", err(openssl.hmac, "nope", "k", "x"))
  add("DES_string_to_key", hex(openssl.DES_string_to_key("1234567")))
  add("DES_string_to_key ff", hex(openssl.DES_string_to_key("\255\255\255\255\255\255\255")))
  add("DES_string_to_key mix", hex(openssl.DES_string_to_key("\1\35\69\103\137\171\205")))
  add("DES_string_to_key short", err(openssl.DES_string_to_key, "123"))
  -- smbauth's LM hash of "PASSWORD"
  local pw = "PASSWORD\0\0\0\0\0\0"
  add("lm hash", hex(openssl.encrypt("DES", openssl.DES_string_to_key(pw:sub(1, 7)), nil, "KGS!@#$%")
    .. openssl.encrypt("DES", openssl.DES_string_to_key(pw:sub(8, 14)), nil, "KGS!@#$%")))

  local digests, ciphers = openssl.supported_digests(), openssl.supported_ciphers()
  add("supported_digests count > 0", #digests > 0)
  add("supported_digests count", #digests)
  add("supported_digests", table.concat(digests, ","))
  add("supported_ciphers count", #ciphers)
  add("supported_ciphers", table.concat(ciphers, ","))
  local names = {}
  for k in pairs(openssl) do names[#names + 1] = k end
  table.sort(names)
  add("functions", table.concat(names, ","))
  local methods = {}
  for k in pairs(getmetatable(a)) do methods[#methods + 1] = k end
  table.sort(methods)
  add("bignum metatable", table.concat(methods, ","))
  return table.concat(out, "\n")
end
