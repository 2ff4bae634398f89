import Glibc

/// A numeric IPv4 or IPv6 endpoint as the kernel wants it.
public struct SocketAddress: Sendable, CustomStringConvertible {
    public var storage: sockaddr_storage
    public var length: socklen_t

    /// Parses a numeric address (no name resolution).
    public init?(ip: String, port: Int) {
        var st = sockaddr_storage()
        if ip.utf8.contains(UInt8(ascii: ":")) {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, ip, &a.sin6_addr) == 1 else { return nil }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &st) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, ip, &a.sin_addr) == 1 else { return nil }
            withUnsafeBytes(of: a) { src in withUnsafeMutableBytes(of: &st) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        storage = st
    }

    public init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage; self.length = length
    }

    public var family: Int32 { Int32(storage.ss_family) }

    /// The numeric host and the port.
    public var hostAndPort: (String, Int) {
        var st = storage
        var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        if family == AF_INET6 {
            return withUnsafePointer(to: &st) { p in
                p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { a in
                    var addr = a.pointee.sin6_addr
                    inet_ntop(AF_INET6, &addr, &buf, socklen_t(buf.count))
                    return (String(cString: buf), Int(UInt16(bigEndian: a.pointee.sin6_port)))
                }
            }
        }
        return withUnsafePointer(to: &st) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { a in
                var addr = a.pointee.sin_addr
                inet_ntop(AF_INET, &addr, &buf, socklen_t(buf.count))
                return (String(cString: buf), Int(UInt16(bigEndian: a.pointee.sin_port)))
            }
        }
    }

    /// The address's bytes in network order (4 or 16).
    public var addressBytes: [UInt8] {
        var st = storage
        return withUnsafeBytes(of: &st) { raw in
            family == AF_INET6 ? Array(raw[8..<24]) : Array(raw[4..<8])
        }
    }

    public var description: String {
        let (h, p) = hostAndPort
        return family == AF_INET6 ? "[\(h)]:\(p)" : "\(h):\(p)"
    }

    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var st = storage
        return withUnsafePointer(to: &st) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    static func local(of fd: Int32) -> SocketAddress? { query(fd, getsockname) }
    static func remote(of fd: Int32) -> SocketAddress? { query(fd, getpeername) }

    private static func query(_ fd: Int32, _ f: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32) -> SocketAddress? {
        var st = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let r = withUnsafeMutablePointer(to: &st) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { f(fd, $0, &len) }
        }
        return r == 0 ? SocketAddress(storage: st, length: len) : nil
    }
}

