import Glibc
import NSEWire

/// What scripts may learn about the network from the broker: name resolution,
/// the DNS servers, the interfaces. (nmap.resolve, get_dns_servers,
/// list_interfaces, get_interface_info.)
enum NetworkFacts {
    /// Every address of `name` in `family` ("inet", "inet6" or "" for both), as text.
    static func resolve(_ name: String, family: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = family == "inet" ? AF_INET : family == "inet6" ? AF_INET6 : AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &res) == 0 else { return [] }
        defer { freeaddrinfo(res) }
        var out: [String] = []
        var p = res
        while let a = p {
            var st = sockaddr_storage()
            memcpy(&st, a.pointee.ai_addr, Int(a.pointee.ai_addrlen))
            let (h, _) = SocketAddress(storage: st, length: a.pointee.ai_addrlen).hostAndPort
            if !out.contains(h) { out.append(h) }
            p = a.pointee.ai_next
        }
        return out
    }

    /// The nameservers of /etc/resolv.conf.
    /// 255.255.255.255, a local interface's IPv4 broadcast address, or a
    /// multicast address (224.0.0.0/4, ff00::/8).
    static func isBroadcast(_ ip: String, interfaces: [Value]) -> Bool {
        if ip == "255.255.255.255" || ip.lowercased().hasPrefix("ff") && ip.contains(":") { return true }
        let octets = ip.split(separator: ".").compactMap { UInt8($0) }
        if octets.count == 4, (224...239).contains(octets[0]) { return true }
        return interfaces.contains { $0["broadcast"].text == ip }
    }

    static func dnsServers() -> [String] {
        guard let f = fopen("/etc/resolv.conf", "r") else { return [] }
        defer { fclose(f) }
        var out: [String] = []
        var line = [CChar](repeating: 0, count: 1024)
        while fgets(&line, 1024, f) != nil {
            let words = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
            if words.count >= 2, words[0] == "nameserver" { out.append(String(words[1])) }
        }
        return out
    }

    /// One table per interface address, with nmap's fields: device, shortname,
    /// netmask (prefix length), address, link, mac, broadcast, up, mtu.
    static func interfaces() -> [Value] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return [] }
        defer { freeifaddrs(list) }
        var macs: [String: [UInt8]] = [:]
        var p = list
        while let i = p {
            if let a = i.pointee.ifa_addr, Int32(a.pointee.sa_family) == AF_PACKET {
                let name = String(cString: i.pointee.ifa_name)
                // struct sockaddr_ll: the address length is byte 11, the address from byte 12.
                let raw = UnsafeRawPointer(a)
                let len = min(8, Int(raw.load(fromByteOffset: 11, as: UInt8.self)))
                macs[name] = (0..<len).map { raw.load(fromByteOffset: 12 + $0, as: UInt8.self) }
            }
            p = i.pointee.ifa_next
        }
        var out: [Value] = []
        p = list
        while let i = p {
            defer { p = i.pointee.ifa_next }
            guard let a = i.pointee.ifa_addr, [AF_INET, AF_INET6].contains(Int32(a.pointee.sa_family)) else { continue }
            let name = String(cString: i.pointee.ifa_name)
            let flags = i.pointee.ifa_flags
            let loopback = flags & UInt32(IFF_LOOPBACK) != 0
            var fields: [(String, Value)] = [
                ("device", .string(name)), ("shortname", .string(name)),
                ("address", .string(text(a))),
                ("netmask", .int(Int64(prefixLength(i.pointee.ifa_netmask)))),
                ("link", .string(loopback ? "loopback" : "ethernet")),
                ("up", .string(flags & UInt32(IFF_UP) != 0 ? "up" : "down")),
                ("mtu", .int(Int64(mtu(name)))),
            ]
            if let mac = macs[name], mac.count == 6, !loopback { fields.append(("mac", .bytes(mac))) }
            if flags & UInt32(IFF_BROADCAST) != 0, let b = i.pointee.ifa_ifu.ifu_broadaddr {
                fields.append(("broadcast", .string(text(b))))
            }
            out.append(.record(fields))
        }
        return out
    }

    private static func text(_ a: UnsafeMutablePointer<sockaddr>) -> String {
        let len = Int32(a.pointee.sa_family) == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
        var st = sockaddr_storage()
        memcpy(&st, a, len)
        return SocketAddress(storage: st, length: socklen_t(len)).hostAndPort.0
    }

    private static func prefixLength(_ mask: UnsafeMutablePointer<sockaddr>?) -> Int {
        guard let mask else { return 0 }
        let isV6 = Int32(mask.pointee.sa_family) == AF_INET6
        var bytes: [UInt8]
        if isV6 {
            bytes = mask.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) } }
        } else {
            bytes = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) } }
        }
        return bytes.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    private static func mtu(_ name: String) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var req = ifreq()
        withUnsafeMutableBytes(of: &req.ifr_ifrn.ifrn_name) { buf in
            for (i, b) in name.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
        }
        guard ioctl(fd, UInt(SIOCGIFMTU), &req) == 0 else { return 0 }
        return Int(req.ifr_ifru.ifru_mtu)
    }
}
