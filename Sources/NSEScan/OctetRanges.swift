/// nmap's IPv4 octet-range syntax: each of the four octets is a comma list of
/// values and ranges, e.g. `192.168.1,3.1-10` or `10.*.0.-5`.
///
/// nmap keeps one 256-entry set per octet, so the enumeration is ascending and
/// free of duplicates whatever order the user wrote the values in.
struct OctetRanges {
    /// The values of each octet, ascending and distinct.
    var octets: [[UInt8]]

    /// Why a word was not accepted, phrased to follow the quoted word.
    struct Failure: Error {
        var reason: String
    }

    init(parsing text: String) throws(Failure) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw Failure(reason: "an IPv4 address has 4 octets, not \(parts.count)")
        }
        var octets: [[UInt8]] = []
        for part in parts {
            octets.append(try Self.parseOctet(part))
        }
        self.octets = octets
    }

    /// How many addresses the word stands for (up to 2^32, so no overflow).
    var count: Int {
        octets.reduce(1) { $0 * $1.count }
    }

    /// Whether every octet is a single value, i.e. a plain dotted quad.
    var isSingleAddress: Bool { count == 1 }

    /// All addresses, ascending, as 32-bit values in host order.
    func addresses() -> [UInt32] {
        var result: [UInt32] = []
        result.reserveCapacity(count)
        for a in octets[0] {
            for b in octets[1] {
                for c in octets[2] {
                    for d in octets[3] {
                        result.append(UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d))
                    }
                }
            }
        }
        return result
    }

    private static func parseOctet(_ text: Substring) throws(Failure) -> [UInt8] {
        guard !text.isEmpty else { throw Failure(reason: "an octet is empty") }
        var present = [Bool](repeating: false, count: 256)
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let range = try parseItem(item)
            for value in range { present[value] = true }
        }
        return (0..<256).filter { present[$0] }.map { UInt8($0) }
    }

    /// One element of an octet list: `*`, `n`, `n-m`, `-m` (0-m), `n-` (n-255) or `-`.
    private static func parseItem(_ item: Substring) throws(Failure) -> ClosedRange<Int> {
        if item == "*" { return 0...255 }
        guard !item.isEmpty else { throw Failure(reason: "an octet list has an empty element") }
        let pieces = item.split(separator: "-", omittingEmptySubsequences: false)
        switch pieces.count {
        case 1:
            let value = try parseValue(pieces[0])
            return value...value
        case 2:
            let low = pieces[0].isEmpty ? 0 : try parseValue(pieces[0])
            let high = pieces[1].isEmpty ? 255 : try parseValue(pieces[1])
            guard low <= high else { throw Failure(reason: "the range \(item) is backwards") }
            return low...high
        default:
            throw Failure(reason: "\(item) is not an octet range")
        }
    }

    private static func parseValue(_ text: Substring) throws(Failure) -> Int {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw Failure(reason: "\(text) is not a number")
        }
        guard text.count <= 3, let value = Int(text), value <= 255 else {
            throw Failure(reason: "\(text) is not an octet (0-255)")
        }
        return value
    }
}
