local http = require "http"
local shortport = require "shortport"

description = [[
nsebox's W1 floor: one instance per port of W1's scan, loading the libraries W1's
scripts load (http and shortport, and what they require) and doing nothing. What
W1 costs beyond this is the scripts' own work: their Lua, their connections, and
(in nsebox) their requests to the broker.
]]
author = "nsebox bench"
license = "Same as nsebox"
categories = {"safe"}

portrule = function(host, port) return true end

action = function(host, port) end
