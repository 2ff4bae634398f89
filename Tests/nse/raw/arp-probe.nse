local nmap = require "nmap"
local stdnse = require "stdnse"

description = [[
nsebox's test of raw packets: asks a directly connected host for its MAC
address with an ARP request sent by ethernet_send, and hears the reply through a
pcap capture. With the script argument arp-probe.form=register it uses the NSE
book's form, pcap_open with a hash function and pcap_register, which nmap 7.93
no longer has; otherwise nmap 7.93's pcap_open(device, snaplen, promisc, bpf).
]]
author = "nsebox tests"
license = "Same as nsebox"
categories = {"safe", "discovery"}

hostrule = function(host)
  return nmap.is_privileged() and host.directly_connected == true and host.interface ~= nil
    and host.mac_addr_src ~= nil and #host.bin_ip == 4
end

-- An ARP request (RFC 826) for host's address, from our address and MAC.
local function arp_request(host)
  return "\xff\xff\xff\xff\xff\xff" .. host.mac_addr_src .. "\x08\x06"
    .. "\x00\x01\x08\x00\x06\x04\x00\x01" .. host.mac_addr_src .. host.bin_ip_src
    .. "\0\0\0\0\0\0" .. host.bin_ip
end

action = function(host)
  local register = stdnse.get_script_args(SCRIPT_NAME .. ".form") == "register"
  local pcap = nmap.new_socket()
  if register then
    -- The hash of an ARP packet: its sender protocol address (layer 3 bytes 15-18).
    pcap:pcap_open(host.interface, 128, false, function(len, l2, l3) return l3:sub(15, 18) end, "arp")
    pcap:pcap_register(host.bin_ip)
  else
    pcap:pcap_open(host.interface, 128, false, "arp and arp[6:2] = 2 and arp[14:4] = 0x"
      .. stdnse.tohex(host.bin_ip))
  end
  pcap:set_timeout(1000)
  local dnet = nmap.new_dnet()
  dnet:ethernet_open(host.interface)
  local answer
  for _ = 1, 3 do
    assert(dnet:ethernet_send(arp_request(host)))
    local ok, _, l2, l3 = pcap:pcap_receive()
    if ok and #l3 >= 18 and l3:byte(8) == 2 then
      answer = string.format("ARP reply from %s: %s (frame to %s)", host.ip, stdnse.format_mac(l3:sub(9, 14)),
        stdnse.format_mac(l2:sub(1, 6)))
      break
    end
  end
  dnet:ethernet_close()
  pcap:close()
  return answer or "no ARP reply"
end
