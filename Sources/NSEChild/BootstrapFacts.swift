/// Part of the child's bootstrap: what the `nmap` module tells about the network
/// and the scan (resolve, DNS servers, interfaces, new targets), and `lfs`,
/// read-only through the broker.
let bootstrapFacts = #"""
local rt, OP, S = ...
local nmap = S.nmap

function nmap.resolve(host, family)
  if type(host) ~= "string" then error("bad argument #1 to 'resolve' (string expected)", 2) end
  return S.rpc("resolve", host, tostring(family or nmap.address_family()))
end

function nmap.get_dns_servers()
  return rt.call(OP.dnsServers) or {}
end

function nmap.list_interfaces()
  return rt.call(OP.interfaces) or {}
end

function nmap.get_interface_info(name)
  local family = nmap.address_family()
  local fallback
  for _, i in ipairs(rt.call(OP.interfaces) or {}) do
    if i.device == name then
      local v6 = i.address:find(":", 1, true) ~= nil
      if (family == "inet6") == v6 then return i end
      fallback = fallback or i
    end
  end
  if fallback then return fallback end
  return nil, "Failed to find interface " .. tostring(name)
end

function nmap.new_targets_num()
  return rt.call(OP.newTargetsNum)
end

function nmap.add_targets(...)
  local specs = {}
  for i = 1, select("#", ...) do specs[#specs + 1] = tostring((select(i, ...))) end
  if #specs == 0 then return nmap.new_targets_num() end
  return rt.call(OP.addTargets, specs)
end

nmap.socket.get_stats = function() return {connect_waiting = 0} end

-- lfs: reading is through the broker (nmap's data directories only); nothing writes.
local READ_ONLY = "nsebox sandbox: the file system is read-only"
local lfs = {}
function lfs.attributes(path, field)
  local info, err = rt.call(OP.fileInfo, tostring(path))
  if not info then return nil, err end
  info.entries = nil
  if field then return info[field] end
  return info
end
lfs.symlinkattributes = lfs.attributes
function lfs.dir(path)
  local info, err = rt.call(OP.fileInfo, tostring(path))
  if not info or not info.entries then error("cannot open " .. tostring(path) .. ": " .. tostring(err or "Not a directory"), 2) end
  local i = 0
  return function()
    i = i + 1
    return info.entries[i]
  end
end
function lfs.currentdir() return "/" end
function lfs.get_path_separator() return "/" end
for _, name in ipairs({"mkdir", "rmdir", "link", "touch", "chdir", "lock", "unlock", "setmode", "lock_dir"}) do
  lfs[name] = function() return nil, READ_ONLY end
end
package.preload.lfs = function() return lfs end
rawset(_G, "lfs", lfs)
"""#
