description = [[Test script: reads nselib's IDNA tables (url.parse of a host name
outside ASCII goes through idna and data.idnaMappings), sleeping first so a test
can look at its process.]]
categories = {"safe"}
local stdnse = require "stdnse"
local url = require "url"
hostrule = function() return true end
action = function()
  stdnse.sleep(2)
  return url.parse("http://b\xC3\xBCcher.Example/").ascii_host
end
