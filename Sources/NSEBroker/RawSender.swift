import CPcap
import Glibc
import NSESystem
import NSEWire

/// The broker's raw senders: a raw IPv4 and a raw IPv6 socket (the packet brings
/// its own IP header; the kernel routes it) and a packet socket for Ethernet
/// frames, each opened at first use and kept for the run. Only the broker holds
/// them: a child asks, and the broker checks where the packet goes first.
public final class RawSender {
    private var sockets: [String: NetSocket.Handle] = [:]

    /// Whether this process can open raw sockets (root with CAP_NET_RAW): what
    /// `nmap.is_privileged()` tells scripts. Asked once, by opening and closing one.
    public static let available: Bool = {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_RAW))
        guard fd >= 0 else { return false }
        Glibc.close(fd)
        return true
    }()

    /// Sends an IP packet to `destination`; nil, or nmap's error text.
    func sendIP(_ packet: [UInt8], to destination: String) -> String? {
        guard let sa = SocketAddress(ip: destination, port: 0) else { return "can't parse ip packet" }
        let v6 = sa.family == AF_INET6
        guard let h = open(v6 ? "ip6" : "ip4", { Glibc.socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_RAW)) }) else {
            return "Unable to open raw IP socket: \(String(cString: strerror(errno)))"
        }
        let n = packet.withUnsafeBytes { p in sa.withSockaddr { Glibc.sendto(h.raw, p.baseAddress, p.count, Int32(MSG_DONTWAIT), $0, $1) } }
        return n == packet.count ? nil : "error while sending: \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// Sends an Ethernet frame on `device`; nil, or nmap's error text.
    func sendFrame(_ frame: [UInt8], device: String) -> String? {
        let index = if_nametoindex(device)
        guard index > 0, frame.count >= 14 else { return "unable to open dnet on ethernet interface \(device)" }
        guard let h = open("packet", { Glibc.socket(AF_PACKET, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }) else {
            return "unable to open dnet on ethernet interface \(device): \(String(cString: strerror(errno)))"
        }
        var ll = sockaddr_ll()
        ll.sll_family = UInt16(AF_PACKET)
        ll.sll_ifindex = Int32(index)
        ll.sll_halen = 6
        withUnsafeMutableBytes(of: &ll.sll_addr) { for i in 0..<6 { $0[i] = frame[i] } }
        let n = frame.withUnsafeBytes { p in
            withUnsafePointer(to: &ll) { a in
                a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.sendto(h.raw, p.baseAddress, p.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
                }
            }
        }
        return n == frame.count ? nil : "netutil_eth_send error: \(String(cString: strerror(errno)))"
    }

    private func open(_ key: String, _ make: () -> Int32) -> NetSocket.Handle? {
        if let h = sockets[key] { return h }
        let fd = make()
        guard fd >= 0 else { return nil }
        let h = NetSocket.Handle(FileDescriptor(taking: fd))
        sockets[key] = h
        return h
    }

    /// Where an IP packet goes: its destination address, or nil if it is not one.
    static func destination(ofPacket p: ArraySlice<UInt8>) -> String? {
        guard let first = p.first else { return nil }
        let b = Array(p)
        switch first >> 4 {
        case 4 where b.count >= 20: return "\(b[16]).\(b[17]).\(b[18]).\(b[19])"
        case 6 where b.count >= 40: return ipv6Text(Array(b[24..<40]))
        default: return nil
        }
    }

    /// Where an Ethernet frame goes, as an IP address: an IP packet's destination,
    /// or an ARP request's target address.
    static func destination(ofFrame f: [UInt8]) -> String? {
        guard f.count >= 14 else { return nil }
        let type = Int(f[12]) << 8 | Int(f[13])
        switch type {
        case 0x0800, 0x86DD: return destination(ofPacket: f[14...])
        case 0x0806 where f.count >= 42: return "\(f[38]).\(f[39]).\(f[40]).\(f[41])"
        default: return nil
        }
    }

    static func ipv6Text(_ bytes: [UInt8]) -> String? {
        var a = in6_addr()
        withUnsafeMutableBytes(of: &a) { for i in 0..<16 { $0[i] = bytes[i] } }
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &a, &buf, socklen_t(buf.count)) != nil else { return nil }
        return String(cString: buf)
    }
}
