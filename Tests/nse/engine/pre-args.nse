description = "Test script: a prerule that reports its script arguments."
categories = {"safe"}
prerule = function() return true end
action = function()
  local stdnse = require "stdnse"
  local nmap = require "nmap"
  local word, list = stdnse.get_script_args("pre-args.word", "list")
  local out = stdnse.output_table()
  out.type = SCRIPT_TYPE
  out.word = word
  out.flag = tostring(stdnse.get_script_args("flag"))
  out.list = list
  out.registry_args_word = nmap.registry.args["pre-args.word"]
  return out
end
