description = "Test script: its hostrule is false, so it never runs."
categories = {"safe"}
hostrule = function() return false end
action = function() return "should not appear" end
