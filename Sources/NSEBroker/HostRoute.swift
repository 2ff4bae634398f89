import Glibc
import NSEWire

/// How this machine reaches a target, for the host table's raw-packet facts
/// (interface, bin_ip_src, directly_connected, mac_addr, ...), as nmap fills them.
public struct HostRoute: Sendable {
    public var interface: String
    public var source: String
    public var directlyConnected: Bool
    public var mtu: Int
    /// The interface's MAC address (none on loopback).
    public var sourceMAC: [UInt8]?
    /// The target's MAC address when it is on the same link and the kernel knows it.
    public var targetMAC: [UInt8]?
    /// The first hop's MAC: the target's when directly connected, else the gateway's.
    public var nextHopMAC: [UInt8]?

    /// The route the kernel picks for `address` (a UDP connect: nothing is sent),
    /// the interface holding its source address (among `interfaces`, the
    /// broker's list), and the neighbour table.
    public static func to(_ address: String, interfaces: [Value]) -> HostRoute? {
        guard let target = SocketAddress(ip: address, port: 9) else { return nil }
        let fd = socket(target.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard target.withSockaddr({ connect(fd, $0, $1) }) == 0, let local = SocketAddress.local(of: fd) else { return nil }
        let source = local.hostAndPort.0
        for entry in interfaces where entry["address"].text == source {
            let name = entry["device"].text ?? ""
            let prefix = Int(entry["netmask"].int ?? 0)
            let loopback = entry["link"].text == "loopback"
            let direct = loopback || sameSubnet(source, address, prefix)
            var mac: [UInt8]? = nil
            if case .bytes(let m) = entry["mac"] { mac = m }
            let targetMAC = direct && !loopback ? neighbour(address) : nil
            let hop = direct ? targetMAC : gateway(of: name).flatMap(neighbour)
            return HostRoute(interface: name, source: source, directlyConnected: direct, mtu: Int(entry["mtu"].int ?? 0),
                             sourceMAC: mac, targetMAC: targetMAC, nextHopMAC: hop)
        }
        return nil
    }

    static func sameSubnet(_ a: String, _ b: String, _ prefix: Int) -> Bool {
        guard let x = SocketAddress(ip: a, port: 0)?.addressBytes, let y = SocketAddress(ip: b, port: 0)?.addressBytes,
              x.count == y.count else { return false }
        var bits = prefix
        for (p, q) in zip(x, y) {
            let mask: UInt8 = bits >= 8 ? 0xff : bits <= 0 ? 0 : UInt8(0xff << (8 - bits) & 0xff)
            if p & mask != q & mask { return false }
            bits -= 8
        }
        return true
    }

    /// The MAC of an IPv4 neighbour, from /proc/net/arp.
    static func neighbour(_ address: String) -> [UInt8]? {
        for fields in table("/proc/net/arp") where fields.count >= 4 && fields[0] == address {
            let mac = fields[3].split(separator: ":").compactMap { UInt8($0, radix: 16) }
            if mac.count == 6 && mac != [0, 0, 0, 0, 0, 0] { return mac }
        }
        return nil
    }

    /// The default gateway of an interface, from /proc/net/route.
    static func gateway(of device: String) -> String? {
        for fields in table("/proc/net/route") where fields.count >= 3 && fields[0] == device && fields[1] == "00000000" {
            guard let v = UInt32(fields[2], radix: 16), v != 0 else { continue }
            return "\(v & 0xff).\(v >> 8 & 0xff).\(v >> 16 & 0xff).\(v >> 24)"
        }
        return nil
    }

    private static func table(_ path: String) -> [[String]] {
        guard let f = fopen(path, "r") else { return [] }
        defer { fclose(f) }
        var out: [[String]] = []
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, 512, f) != nil {
            out.append(String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
        }
        return Array(out.dropFirst())
    }
}
