description = "Test script: its action raises an error."
categories = {"safe"}
hostrule = function() return true end
action = function() error("deliberate failure") end
