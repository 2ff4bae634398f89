description = "Test script: multi-line string output with control bytes and a trailing newline."
categories = {"safe"}
hostrule = function() return true end
action = function()
  return "first line\nsecond line\r\n\1tail\n\nafter blank\n"
end
