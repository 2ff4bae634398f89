local stdnse = require "stdnse"
local zlib = require "zlib"

description = [[
zlib and bit32 as nmap's Lua 5.3 has them: compress/decompress round trips,
checksums of fixed strings, gzip stream decoding, deflate streams, and bit32 on
edge values. Every result is deterministic, so nmap and nsebox must agree.
]]
categories = {"safe"}

hostrule = function(host) return true end

local out = {}
local function put(fmt, ...) out[#out + 1] = string.format(fmt, ...) end
local function show(v)
  if type(v) == "string" then return string.format("%q", v):gsub("\\\n", "\\n") end
  return tostring(v)
end
local function try(f, ...)
  local ok, v = pcall(f, ...)
  return ok and show(v) or "error"
end

action = function(host)
  -- Globals, as nmap's Lua state has them.
  put("globals: bit32=%s zlib=%s same=%s", type(bit32), type(rawget(_G, "zlib")),
      tostring(require("bit32") == bit32))

  -- Checksums.
  put("crc32() = %d, adler32() = %d", zlib.crc32(), zlib.adler32())
  put("crc32(hello world) = %d", zlib.crc32(0, "hello world"))
  put("crc32 in two parts = %d", zlib.crc32(zlib.crc32(0, "hello "), "world"))
  put("adler32(hello world) = %d", zlib.adler32(1, "hello world"))
  put("adler32 in two parts = %d", zlib.adler32(zlib.adler32(1, "hello "), "world"))
  put("crc32 of 256 bytes = %d", zlib.crc32(0, string.rep("\0\255", 128)))
  put("checksums print as %s and %s", tostring(zlib.crc32(0, "abc")), tostring(zlib.adler32()))
  put("version is a %s", type(zlib.version()))

  -- compress / decompress.
  local text = string.rep("nsebox zlib test ", 20)
  local c, code = zlib.compress(text)
  put("compress returns the data and zlib's code: %s", tostring(code))
  put("compress: %d -> %d bytes, %s", #text, #c, stdnse.tohex(c))
  put("round trip: %s", tostring(zlib.decompress(c) == text))
  put("level 0 round trip: %s", tostring(zlib.decompress((zlib.compress(text, 0))) == text))
  put("level 9 length: %d", #(zlib.compress(text, 9)))
  local raw = (zlib.compress(text, 6, 8, -15))
  put("raw deflate: %d bytes, back: %s", #raw, tostring(zlib.decompress(raw, -15) == text))
  local binary = {}
  for i = 0, 255 do binary[#binary + 1] = string.char(i) end
  binary = string.rep(table.concat(binary), 64)
  put("binary round trip: %s", tostring(zlib.decompress((zlib.compress(binary))) == binary))
  put("empty round trip: %s", show(zlib.decompress((zlib.compress("")))))
  put("fixed blob: %s", show(zlib.decompress("\x78\x9c\xcb\x2b\x4e\x4d\xca\xaf\x50\xa8\xca\xc9\x4c\x52\x28\x49\x2d\x2e\x51\xc8\x1b\x15\xa0\x54\x00\x00\x23\x9b\x7f\x81"):sub(1, 34)))
  put("decompress garbage: %s", pcall(zlib.decompress, "this is not zlib data") and "ok" or "error")

  -- gzip streams, as http.lua decodes Content-Encoding: gzip.
  local gz = "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\xc9\xcc\x4b\x55\xc8\xcf\x4b\xe5\xca\x01\x31\x4a\xca\xf3\xb9\xb8\x72\x12\x8b\x4b\x14\xc0\xdc\xf2\xcc\x92\x8c\xfc\xd2\x12\x85\xbc\xd4\x72\x10\x1f\x00\x4c\xb8\x78\x22\x2c\x00\x00\x00"
  local s = zlib.inflate(gz)
  put("gzip *a: %s", show(s:read("*a")))
  put("read at end: %s", show(s:read("*l")))
  s:close()
  s = zlib.inflate(gz)
  local lines = {}
  for l in s:lines() do lines[#lines + 1] = show(l) end
  put("gzip lines: %s", table.concat(lines, ", "))
  s:close()
  s = zlib.inflate(gz)
  put("gzip read(5), *l, read(3), *a: %s %s %s %s", show(s:read(5)), show(s:read("*l")), show(s:read(3)), show(s:read("*a")))
  s:close()
  s = zlib.inflate((stdnse.fromhex("1f8b0800000000000000f348cdc9c9d75108cf2fca49510400d0c34aec0d000000")))
  put("http.lua's vector: %s", show(s:read("*a")))
  s:close()
  local pieces, i = {}, 0
  for k = 1, #gz, 20 do pieces[#pieces + 1] = gz:sub(k, k + 19) end
  s = zlib.inflate(function() i = i + 1; return pieces[i] end)
  put("gzip from a function source: %s", show(s:read("*a")))
  s:close()
  s = zlib.inflate((zlib.compress("crlf\r\nlf\n\nlast")))
  lines = {}
  for l in s:lines() do lines[#lines + 1] = show(l) end
  put("CRLF lines: %s", table.concat(lines, ", "))
  s:close()
  put("closed stream: %s", tostring(s))
  s = zlib.inflate(gz, 15)
  put("gzip with windowBits 15: %s", show(s:read(9)))
  s:close()
  s = zlib.inflate("\x1f\x8b\x08\x00garbage that is not deflate data")
  put("corrupt gzip read: %s", pcall(s.read, s, "*a") and "ok" or "error")
  s:close()

  -- deflate streams into a table sink and a function sink.
  local sink = {parts = {}}
  function sink:write(data) self.parts[#self.parts + 1] = data end
  local d = zlib.deflate(sink)
  d:write("first part, ", "second part, ")
  d:write(string.rep("x", 1000))
  d:close()
  put("deflate stream back: %s", show(zlib.decompress(table.concat(sink.parts)):sub(1, 30)))
  local got = {}
  d = zlib.deflate(function(data) got[#got + 1] = data end, 9, 8, 31)
  d:write(text)
  d:flush("sync")
  d:write(text)
  d:close()
  local back = zlib.inflate(table.concat(got)):read("*a")
  put("gzip deflate stream back: %s", tostring(back == text .. text))

  -- bit32 with Lua 5.2's 32-bit semantics.
  local b = bit32
  put("band() bor() bxor() = %d %d %d", b.band(), b.bor(), b.bxor())
  put("band(0xFFFFFFFF, -1) = %d", b.band(0xFFFFFFFF, -1))
  put("band(2^32 + 5, 7) = %d", b.band(2^32 + 5, 7))
  put("bor(0x0F, 0xF0, 0x100) = %d", b.bor(0x0F, 0xF0, 0x100))
  put("bxor(-1, 0) = %d, bxor(5, 3, 1) = %d", b.bxor(-1, 0), b.bxor(5, 3, 1))
  put("bnot(0) = %d, bnot(-1) = %d, bnot(0x12345678) = %d", b.bnot(0), b.bnot(-1), b.bnot(0x12345678))
  put("btest(1, 2) = %s, btest(3, 2) = %s, btest() = %s", tostring(b.btest(1, 2)), tostring(b.btest(3, 2)), tostring(b.btest()))
  put("lshift(1, 31) = %d, lshift(1, 32) = %d, lshift(0xFF, -4) = %d", b.lshift(1, 31), b.lshift(1, 32), b.lshift(0xFF, -4))
  put("rshift(0x80000000, 31) = %d, rshift(1, -1) = %d, rshift(-1, 40) = %d", b.rshift(0x80000000, 31), b.rshift(1, -1), b.rshift(-1, 40))
  put("arshift(0x80000000, 1) = %d, arshift(0x80000000, 40) = %d", b.arshift(0x80000000, 1), b.arshift(0x80000000, 40))
  put("arshift(0x7FFFFFFF, 1) = %d, arshift(-1, -1) = %d, arshift(-256, 4) = %d", b.arshift(0x7FFFFFFF, 1), b.arshift(-1, -1), b.arshift(-256, 4))
  put("lrotate(0x80000001, 1) = %d, rrotate(1, 1) = %d, lrotate(1, -1) = %d, lrotate(5, 64) = %d",
      b.lrotate(0x80000001, 1), b.rrotate(1, 1), b.lrotate(1, -1), b.lrotate(5, 64))
  put("rrotate(0x12345678, 8) = %d, rrotate(0x12345678, -8) = %d", b.rrotate(0x12345678, 8), b.rrotate(0x12345678, -8))
  put("extract(0xF0, 4, 4) = %d, extract(0x80000000, 31) = %d, extract(-1, 0, 32) = %d",
      b.extract(0xF0, 4, 4), b.extract(0x80000000, 31), b.extract(-1, 0, 32))
  put("replace(0, 0xF, 28, 4) = %d, replace(-1, 0, 0, 32) = %d, replace(0x12345678, 0xAB, 8, 8) = %d",
      b.replace(0, 0xF, 28, 4), b.replace(-1, 0, 0, 32), b.replace(0x12345678, 0xAB, 8, 8))
  put("results are integers: %s", math.type(b.band(0xFFFFFFFF)))
  put("extract(1, 31, 2): %s, extract(1, -1): %s, extract(1, 0, 0): %s",
      try(b.extract, 1, 31, 2), try(b.extract, 1, -1), try(b.extract, 1, 0, 0))
  put("band(1.5): %s, band('3', 1): %s", try(b.band, 1.5), try(b.band, "3", 1))
  return table.concat(out, "\n")
end
