/// A transport protocol we can scan. Ordered tcp < udp, as nmap lists them.
public enum PortProtocol: String, Sendable, Comparable {
    case tcp, udp

    public static func < (lhs: PortProtocol, rhs: PortProtocol) -> Bool {
        lhs == .tcp && rhs == .udp
    }
}

/// The ports chosen by a `-p` argument, each list ascending and distinct.
public struct PortSelection: Equatable, Sendable {
    public var tcp: [Int]
    public var udp: [Int]

    public init(tcp: [Int] = [], udp: [Int] = []) {
        self.tcp = tcp
        self.udp = udp
    }
}

/// Parses nmap's `-p` syntax: comma-separated ports (`22`), ranges (`80-90`,
/// `-100` = 1-100, `60000-` = to 65535, `-` = 1-65535), service names and
/// globs (`http*`), and `T:`/`U:` prefixes that apply to every later item up
/// to the next prefix.
///
/// Port 0 is only included when written explicitly (`0`, `0-10`), as in nmap.
/// Items after `U:` are kept even when UDP is not being scanned (nmap keeps
/// them and only warns); unprefixed items go to each protocol being scanned,
/// or to TCP when neither flag is set. nmap's `[...]` syntax is not supported.
public struct PortSpecParser {
    private let services: ServiceTable?

    /// - Parameter services: needed only to resolve service names in specs.
    public init(services: ServiceTable?) {
        self.services = services
    }

    public func parse(_ spec: String, scanTCP: Bool, scanUDP: Bool) throws(SpecError) -> PortSelection {
        guard !spec.isEmpty else { throw SpecError("The port specification is empty.") }
        guard !spec.contains(where: \.isWhitespace) else {
            throw SpecError("The port specification \"\(spec)\" contains spaces; separate ports with commas only.")
        }
        var defaults: [PortProtocol] = []
        if scanTCP || !scanUDP { defaults.append(.tcp) }
        if scanUDP { defaults.append(.udp) }

        var items = spec.split(separator: ",", omittingEmptySubsequences: false)
        // nmap tolerates one trailing comma ("22,") but no other empty item.
        if items.count > 1, items.last!.isEmpty { items.removeLast() }

        var chosen: [PortProtocol: Set<Int>] = [.tcp: [], .udp: []]
        var current: [PortProtocol]? = nil
        for var item in items {
            while let prefix = try takePrefix(&item, spec: spec) {
                current = [prefix]
            }
            guard !item.isEmpty else {
                throw SpecError("The port specification \"\(spec)\" has an empty item; nothing comes between two commas or after a prefix.")
            }
            let protocols = current ?? defaults
            if let first = item.first, first.isNumber || first == "-" {
                let range = try parseRange(item, spec: spec)
                for proto in protocols { chosen[proto]!.formUnion(range) }
            } else {
                try addServices(named: item, to: &chosen, protocols: protocols, spec: spec)
            }
        }
        return PortSelection(tcp: chosen[.tcp]!.sorted(), udp: chosen[.udp]!.sorted())
    }

    /// Strips a leading `T:`/`U:` and returns its protocol; rejects `S:` (SCTP).
    private func takePrefix(_ item: inout Substring, spec: String) throws(SpecError) -> PortProtocol? {
        guard item.count >= 2, item.dropFirst().first == ":" else { return nil }
        let letter = item.first!
        item = item.dropFirst(2)
        switch letter {
        case "T": return .tcp
        case "U": return .udp
        case "S": throw SpecError("SCTP is not supported: remove the \"S:\" ports from \"\(spec)\".")
        default:
            throw SpecError("Unknown protocol prefix \"\(letter):\" in \"\(spec)\"; use T: or U:.")
        }
    }

    private func parseRange(_ item: Substring, spec: String) throws(SpecError) -> ClosedRange<Int> {
        let pieces = item.split(separator: "-", omittingEmptySubsequences: false)
        switch pieces.count {
        case 1:
            let port = try parsePort(pieces[0], item: item, spec: spec)
            return port...port
        case 2:
            let low = pieces[0].isEmpty ? 1 : try parsePort(pieces[0], item: item, spec: spec)
            let high = pieces[1].isEmpty ? 65535 : try parsePort(pieces[1], item: item, spec: spec)
            guard low <= high else {
                throw SpecError("The port range \"\(item)\" is backwards; did you mean \(high)-\(low)?")
            }
            return low...high
        default:
            throw illegal(item, spec: spec)
        }
    }

    private func parsePort(_ text: Substring, item: Substring, spec: String) throws(SpecError) -> Int {
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw illegal(item, spec: spec) }
        guard let port = Int(text), port <= 65535 else {
            throw SpecError("Port \(text) in \"\(spec)\" is out of range; ports must be between 0 and 65535.")
        }
        return port
    }

    private func addServices(named pattern: Substring, to chosen: inout [PortProtocol: Set<Int>],
                             protocols: [PortProtocol], spec: String) throws(SpecError) {
        guard pattern.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+/*?".contains($0)) }) else {
            throw illegal(pattern, spec: spec)
        }
        guard let services else {
            throw SpecError("Cannot look up the service \"\(pattern)\" in \"\(spec)\": no nmap-services table is loaded.")
        }
        var found = false
        for proto in protocols {
            let ports = services.ports(named: String(pattern), protocol: proto)
            found = found || !ports.isEmpty
            chosen[proto]!.formUnion(ports)
        }
        guard found else {
            let names = protocols.map(\.rawValue).joined(separator: "/")
            throw SpecError("Your port specifications are illegal: no \(names) service matches \"\(pattern)\" (in \"\(spec)\").")
        }
    }

    private func illegal(_ item: Substring, spec: String) -> SpecError {
        SpecError("Your port specifications are illegal: cannot understand \"\(item)\" in \"\(spec)\".")
    }
}
