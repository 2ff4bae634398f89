/// The contents of an nmap-services file: port names and how often each port
/// was found open, which decides nmap's default ("top") port list.
public struct ServiceTable: Sendable {
    /// One `name port/proto frequency` line.
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var port: Int
        public var proto: PortProtocol
        public var frequency: Double

        public init(name: String, port: Int, proto: PortProtocol, frequency: Double) {
            self.name = name
            self.port = port
            self.proto = proto
            self.frequency = frequency
        }
    }

    /// Entries in file order, first line wins for a repeated port/protocol.
    public private(set) var entries: [Entry]
    private var names: [PortProtocol: [Int: String]]

    public init(entries: [Entry]) {
        var kept: [Entry] = []
        var names: [PortProtocol: [Int: String]] = [.tcp: [:], .udp: [:]]
        for entry in entries where names[entry.proto]![entry.port] == nil {
            names[entry.proto]![entry.port] = entry.name
            kept.append(entry)
        }
        self.entries = kept
        self.names = names
    }

    /// Loads a services file; a missing or unreadable file is an error, a
    /// malformed line is skipped (nmap does the same).
    public static func load(path: String) throws(SpecError) -> ServiceTable {
        ServiceTable(parsing: try readTextFile(path))
    }

    /// Parses services-file text. SCTP lines are skipped: we scan TCP and UDP only.
    /// Read as bytes: the file has 27,000 lines, and splitting it as Characters
    /// cost every scan tens of milliseconds before its first packet.
    public init(parsing text: String) {
        var entries: [Entry] = []
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
                if let entry = Self.parseLine(UnsafeBufferPointer(rebasing: bytes[start..<end])) { entries.append(entry) }
                start = end + 1
            }
        }
        self.init(entries: entries)
    }

    /// `name port/proto [frequency]`, fields separated by spaces or tabs, `#` to
    /// the end of the line a comment.
    private static func parseLine(_ line: UnsafeBufferPointer<UInt8>) -> Entry? {
        var fields: [Range<Int>] = []
        var i = 0
        while i < line.count, line[i] != 0x23, fields.count < 3 {  // "#"
            if line[i] == 0x20 || line[i] == 0x09 { i += 1; continue }
            let begin = i
            while i < line.count, line[i] != 0x20, line[i] != 0x09, line[i] != 0x23 { i += 1 }
            fields.append(begin..<i)
        }
        guard fields.count >= 2 else { return nil }
        func text(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: line[r]), as: UTF8.self) }
        let portField = line[fields[1]]
        guard let slash = portField.firstIndex(of: 0x2F), slash > fields[1].lowerBound, slash - fields[1].lowerBound <= 5,
              portField[..<slash].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(text(fields[1].lowerBound..<slash)), (0...65535).contains(port),
              let proto = PortProtocol(rawValue: text((slash + 1)..<fields[1].upperBound))
        else { return nil }
        var frequency = 0.0
        if fields.count >= 3 {
            guard let value = Double(text(fields[2])), value >= 0 else { return nil }
            frequency = value
        }
        return Entry(name: text(fields[0]), port: port, proto: proto, frequency: frequency)
    }

    /// The service name listed for the port, or nil if the file has none.
    public func name(port: Int, protocol proto: PortProtocol) -> String? {
        names[proto]?[port]
    }

    /// The name nmap prints in the SERVICE column: "unknown" when unlisted.
    public func displayName(port: Int, protocol proto: PortProtocol) -> String {
        name(port: port, protocol: proto) ?? "unknown"
    }

    /// Ports whose service name matches `pattern` (`*` and `?` globs,
    /// case-insensitive), ascending.
    public func ports(named pattern: String, protocol proto: PortProtocol) -> [Int] {
        entries.filter { $0.proto == proto && globMatches(pattern, $0.name) }.map(\.port).sorted()
    }

    /// The `n` ports most often found open, as nmap's `--top-ports n` picks
    /// them (ties broken by lower port number), returned ascending.
    public func topPorts(_ n: Int, protocol proto: PortProtocol) -> [Int] {
        guard n > 0 else { return [] }
        let ranked = entries.filter { $0.proto == proto }.sorted {
            $0.frequency != $1.frequency ? $0.frequency > $1.frequency : $0.port < $1.port
        }
        return ranked.prefix(n).map(\.port).sorted()
    }
}
