description = "Hostile test script: tries to run a shell command with os.execute."
categories = {"safe"}
hostrule = function() return true end
action = function()
  os.execute("touch /tmp/nsebox-pwned-exec")
  return "os.execute ran"
end
