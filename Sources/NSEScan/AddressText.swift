#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Conversions between numeric address text and bytes, done by the C library
/// so that we accept and print exactly what the system does.
enum AddressText {
    /// Parses a strict dotted quad ("10.0.0.1"); nil for anything else.
    static func parseIPv4(_ text: String) -> UInt32? {
        var addr = in_addr()
        guard inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        return UInt32(bigEndian: addr.s_addr)
    }

    /// Parses numeric IPv6 text (no zone); nil for anything else.
    static func parseIPv6(_ text: String) -> [UInt8]? {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: &addr) { Array($0) }
    }

    static func formatIPv4(_ value: UInt32) -> String {
        "\(value >> 24).\((value >> 16) & 0xff).\((value >> 8) & 0xff).\(value & 0xff)"
    }

    /// The canonical (RFC 5952) text of 16 address bytes.
    static func formatIPv6(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 16)
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else {
            preconditionFailure("inet_ntop cannot fail on 16 bytes")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `name` is a network interface on this machine (for fe80::1%lo).
    static func isInterface(_ name: String) -> Bool {
        if_nametoindex(name) != 0
    }

    /// IPv4 addresses of `name` from getaddrinfo, in the order the resolver
    /// returned them. Without -6 nmap scans only the first IPv4 address.
    static func resolveIPv4(_ name: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        // One socket type, or every address is listed once per type.
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var result: [String] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let entry = node {
            if entry.pointee.ai_family == AF_INET, let raw = entry.pointee.ai_addr {
                let sin = UnsafeRawPointer(raw).loadUnaligned(as: sockaddr_in.self)
                let text = formatIPv4(UInt32(bigEndian: sin.sin_addr.s_addr))
                if !result.contains(text) { result.append(text) }
            }
            node = entry.pointee.ai_next
        }
        return result
    }
}
