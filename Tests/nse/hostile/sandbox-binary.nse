description = "Hostile test script: tries to load a precompiled (binary) Lua chunk."
categories = {"safe"}
hostrule = function() return true end
action = function()
  -- The start of a Lua 5.4 binary chunk: signature, version, format, check bytes.
  local chunk = "\27Lua\x54\0\x19\x93\r\n\x1a\n"
  local f = assert(load(chunk, "=binary", "b"))
  return "binary chunk loaded: " .. tostring(f)
end
