/// Address blocks written as `address/prefix` (CIDR), for both families.
enum Netblock {
    /// Every IPv4 address in the /prefix block that holds `address`, ascending,
    /// network and broadcast addresses included (nmap scans them too).
    static func ipv4(_ address: UInt32, prefix: Int) -> [UInt32] {
        precondition((0...32).contains(prefix))
        let hostBits = 32 - prefix
        let mask: UInt32 = hostBits == 32 ? 0 : ~UInt32(0) << UInt32(hostBits)
        let network = address & mask
        let size = UInt64(1) << UInt64(hostBits)
        return (0..<size).map { network | UInt32($0) }
    }

    /// Every IPv6 address in the /prefix block that holds `address`, ascending.
    /// The caller must keep `128 - prefix` at or below 24 bits (the size cap),
    /// so only the last three bytes ever vary.
    static func ipv6(_ address: [UInt8], prefix: Int) -> [[UInt8]] {
        precondition(address.count == 16 && (104...128).contains(prefix))
        var network = address
        for bit in prefix..<128 {
            network[bit / 8] &= ~(UInt8(0x80) >> UInt8(bit % 8))
        }
        let size = 1 << (128 - prefix)
        return (0..<size).map { offset in
            var bytes = network
            bytes[13] |= UInt8((offset >> 16) & 0xff)
            bytes[14] |= UInt8((offset >> 8) & 0xff)
            bytes[15] |= UInt8(offset & 0xff)
            return bytes
        }
    }
}
