description = "Test script: structured output with nesting, numbers, booleans and odd bytes."
categories = {"safe"}
hostrule = function() return true end
action = function()
  local stdnse = require "stdnse"
  local out = stdnse.output_table()
  out.first = "plain"
  out.bytes = "tab\there, bell\7, high\200"
  out.list = {"one", "two", {"nested", "deeper"}}
  out.number = 42
  out.float = 2.5
  out.flag = true
  local inner = stdnse.output_table()
  inner.z = "last letter first"
  inner.a = "first letter last"
  out.ordered = inner
  return out
end
