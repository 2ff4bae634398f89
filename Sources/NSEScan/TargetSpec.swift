/// The address family of a scan target.
public enum AddressFamily: Sendable {
    case ipv4, ipv6
}

/// One host to scan.
public struct ScanTarget: Hashable, Sendable {
    /// The numeric address in canonical text form ("10.0.0.1", "fe80::1%lo").
    public var address: String
    public var family: AddressFamily
    /// The host name as the user typed it; nil for numeric input and for the
    /// other hosts of a `name/prefix` block.
    public var targetName: String?

    public init(address: String, family: AddressFamily, targetName: String? = nil) {
        self.address = address
        self.family = family
        self.targetName = targetName
    }
}

/// Turns nmap-style target words (one target per command-line word) into hosts.
///
/// Accepted forms: dotted quads with octet ranges and lists (`10.0-1.0.1`,
/// `192.168.1.1,3,5-7`, `10.*.0.-5`), numeric IPv6 (`::1`, `fe80::1%lo`),
/// host names, and `/prefix` after a single address or host name.
public struct TargetParser {
    /// The most addresses one word may expand to; nmap itself has no such cap,
    /// but a typo like `/1` should not try to build two billion targets.
    public static let maxAddressesPerWord = 1 << 24

    private let resolver: (String) -> [String]

    /// - Parameter resolver: maps a host name to numeric addresses, best first;
    ///   an empty answer means the name does not resolve.
    public init(resolver: @escaping (String) -> [String] = TargetParser.systemResolver) {
        self.resolver = resolver
    }

    /// Resolves through getaddrinfo and keeps only IPv4 answers, as nmap does
    /// when it is not run with -6.
    public static func systemResolver(_ name: String) -> [String] {
        AddressText.resolveIPv4(name)
    }

    /// Expands each word in order; duplicates are removed within a word only.
    public func parse(_ specs: [String]) throws(SpecError) -> [ScanTarget] {
        var targets: [ScanTarget] = []
        for word in specs {
            targets += try parseWord(word)
        }
        return targets
    }

    private func parseWord(_ word: String) throws(SpecError) -> [ScanTarget] {
        var base = Substring(word)
        var prefix: Int?
        if let slash = word.lastIndex(of: "/") {
            base = word[..<slash]
            let maskText = word[word.index(after: slash)...]
            guard !maskText.isEmpty, maskText.count <= 3,
                  maskText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(maskText)
            else { throw SpecError("Illegal netmask in \"\(word)\".") }
            prefix = value
        }
        guard !base.isEmpty else { throw SpecError("Invalid target \"\(word)\": no address before the netmask.") }

        if base.contains(":") {
            return try ipv6Targets(String(base), prefix: prefix, word: word, name: nil)
        }
        if base.allSatisfy({ "0123456789.,-*".contains($0) }) {
            return try ipv4RangeTargets(String(base), prefix: prefix, word: word)
        }
        return try hostNameTargets(String(base), prefix: prefix, word: word)
    }

    private func ipv4RangeTargets(_ base: String, prefix: Int?, word: String) throws(SpecError) -> [ScanTarget] {
        let ranges: OctetRanges
        do {
            ranges = try OctetRanges(parsing: base)
        } catch {
            throw SpecError("Invalid target \"\(word)\": \(error.reason).")
        }
        if let prefix {
            guard ranges.isSingleAddress else {
                throw SpecError("Invalid target \"\(word)\": octet ranges cannot be combined with a netmask.")
            }
            return try ipv4Block(ranges.addresses()[0], prefix: prefix, word: word, name: nil)
        }
        try checkSize(ranges.count, word: word)
        return ranges.addresses().map { ScanTarget(address: AddressText.formatIPv4($0), family: .ipv4) }
    }

    private func ipv4Block(_ address: UInt32, prefix: Int, word: String, name: String?) throws(SpecError) -> [ScanTarget] {
        guard prefix <= 32 else { throw SpecError("Illegal netmask in \"\(word)\".") }
        try checkSize(1 << (32 - prefix), word: word)
        return Netblock.ipv4(address, prefix: prefix).map {
            ScanTarget(address: AddressText.formatIPv4($0), family: .ipv4,
                       targetName: $0 == address ? name : nil)
        }
    }

    /// Numeric IPv6, optionally with a `%zone` naming a local interface.
    private func ipv6Targets(_ base: String, prefix: Int?, word: String, name: String?) throws(SpecError) -> [ScanTarget] {
        var text = Substring(base)
        var zone = ""
        if let percent = base.firstIndex(of: "%") {
            text = base[..<percent]
            let interface = String(base[base.index(after: percent)...])
            guard AddressText.isInterface(interface) else {
                throw SpecError("Invalid target \"\(word)\": no network interface named \"\(interface)\".")
            }
            zone = "%" + interface
        }
        guard let bytes = AddressText.parseIPv6(String(text)) else {
            throw SpecError("Invalid target \"\(word)\": not an IPv6 address.")
        }
        guard let prefix else {
            return [ScanTarget(address: AddressText.formatIPv6(bytes) + zone, family: .ipv6, targetName: name)]
        }
        guard prefix <= 128 else { throw SpecError("Illegal netmask in \"\(word)\".") }
        let hostBits = 128 - prefix
        guard hostBits <= 24 else {
            throw SpecError("Target \"\(word)\" expands to 2^\(hostBits) addresses; at most \(Self.maxAddressesPerWord) (2^24) are allowed per target.")
        }
        return Netblock.ipv6(bytes, prefix: prefix).map {
            ScanTarget(address: AddressText.formatIPv6($0) + zone, family: .ipv6,
                       targetName: $0 == bytes ? name : nil)
        }
    }

    private func hostNameTargets(_ name: String, prefix: Int?, word: String) throws(SpecError) -> [ScanTarget] {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }) else {
            throw SpecError("Invalid target \"\(word)\": not an address or a host name.")
        }
        // Take the first answer that is a numeric address; the resolver is ours
        // to call but its output is still checked like user input.
        for answer in resolver(name) {
            if let value = AddressText.parseIPv4(answer) {
                return try ipv4Block(value, prefix: prefix ?? 32, word: word, name: name)
            }
            if AddressText.parseIPv6(answer) != nil || answer.contains("%") {
                return try ipv6Targets(answer, prefix: prefix, word: word, name: name)
            }
        }
        throw SpecError("Failed to resolve \"\(name)\".")
    }

    private func checkSize(_ count: Int, word: String) throws(SpecError) {
        guard count <= Self.maxAddressesPerWord else {
            throw SpecError("Target \"\(word)\" expands to \(count) addresses; at most \(Self.maxAddressesPerWord) (2^24) are allowed per target.")
        }
    }
}
