#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

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

    /// Entries in file order, first line wins for a repeated port/protocol
    /// (made when asked for: a scan needs only a few names, or the top ports).
    public var entries: [Entry] { lines.map { entry($0) } }

    /// One kept line: where its name is in `text`, its port and its frequency.
    private struct Line {
        var nameStart: Int32, nameEnd: Int32
        var port: UInt16
        var proto: PortProtocol
        var frequency: Double
    }
    private let text: [UInt8]
    private var lines: [Line] = []
    /// For each protocol and port, the index of its line, or -1: the file has
    /// 27,000 lines, and a dictionary of their names cost a scan milliseconds
    /// before its first packet.
    private var slots = [Int32](repeating: -1, count: 2 * 65536)

    private static func slot(_ port: Int, _ proto: PortProtocol) -> Int { proto == .tcp ? port : 65536 + port }

    private func entry(_ line: Line) -> Entry {
        Entry(name: String(decoding: text[Int(line.nameStart)..<Int(line.nameEnd)], as: UTF8.self),
              port: Int(line.port), proto: line.proto, frequency: line.frequency)
    }

    public init(entries: [Entry]) {
        var text: [UInt8] = []
        var lines: [Line] = []
        for e in entries {
            let start = Int32(text.count)
            text += Array(e.name.utf8)
            lines.append(Line(nameStart: start, nameEnd: Int32(text.count), port: UInt16(e.port), proto: e.proto, frequency: e.frequency))
        }
        self.init(text: text, lines: lines)
    }

    private init(text: [UInt8], lines: [Line]) {
        self.text = text
        for line in lines where slots[Self.slot(Int(line.port), line.proto)] < 0 {
            slots[Self.slot(Int(line.port), line.proto)] = Int32(self.lines.count)
            self.lines.append(line)
        }
    }

    /// Loads a services file; a missing or unreadable file is an error, a
    /// malformed line is skipped (nmap does the same).
    public static func load(path: String) throws(SpecError) -> ServiceTable {
        let bytes = try readFileBytes(path)
        return ServiceTable(text: bytes, lines: bytes.withUnsafeBufferPointer { parse($0) })
    }

    /// Parses services-file text. SCTP lines are skipped: we scan TCP and UDP only.
    public init(parsing text: String) {
        let bytes = Array(text.utf8)
        self.init(text: bytes, lines: bytes.withUnsafeBufferPointer { Self.parse($0) })
    }

    /// Every well-formed line, read as bytes with its fields found in place.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> [Line] {
        var lines: [Line] = []
        lines.reserveCapacity(bytes.count / 40)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A, bytes[end] != 0x0D { end += 1 }
            if let line = parseLine(bytes, start..<end) { lines.append(line) }
            start = end + 1
        }
        return lines
    }

    /// `name port/proto [frequency]`, fields separated by spaces or tabs, `#` to
    /// the end of the line a comment.
    private static func parseLine(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Line? {
        var fields = (0..<0, 0..<0, 0..<0)
        var count = 0
        var i = range.lowerBound
        while i < range.upperBound, bytes[i] != 0x23, count < 3 {  // "#"
            if bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1; continue }
            let begin = i
            while i < range.upperBound, bytes[i] != 0x20, bytes[i] != 0x09, bytes[i] != 0x23 { i += 1 }
            switch count {
            case 0: fields.0 = begin..<i
            case 1: fields.1 = begin..<i
            default: fields.2 = begin..<i
            }
            count += 1
        }
        guard count >= 2 else { return nil }
        // port/proto: 1 to 5 digits, a slash, tcp or udp.
        var port = 0, j = fields.1.lowerBound
        while j < fields.1.upperBound, bytes[j] >= 0x30, bytes[j] <= 0x39, j - fields.1.lowerBound < 5 {
            port = port * 10 + Int(bytes[j] - 0x30)
            j += 1
        }
        guard j > fields.1.lowerBound, j < fields.1.upperBound, bytes[j] == 0x2F, port <= 65535,
              fields.1.upperBound - j == 4 else { return nil }
        let proto: PortProtocol
        switch (bytes[j + 1], bytes[j + 2], bytes[j + 3]) {
        case (0x74, 0x63, 0x70): proto = .tcp  // "tcp"
        case (0x75, 0x64, 0x70): proto = .udp  // "udp"
        default: return nil
        }
        var frequency = 0.0
        if count >= 3 {
            guard let value = decimal(UnsafeBufferPointer(rebasing: bytes[fields.2])), value >= 0 else { return nil }
            frequency = value
        }
        return Line(nameStart: Int32(fields.0.lowerBound), nameEnd: Int32(fields.0.upperBound),
                    port: UInt16(port), proto: proto, frequency: frequency)
    }

    /// The number a field spells, as strtod(3) reads it; nil unless the whole
    /// field is one. Every frequency in nmap's file is digits, a point, digits:
    /// read here as an integer over a power of ten, which is exact (both
    /// are doubles exactly, so the one division rounds as strtod does) while the
    /// integer stays below 2^53 and the power at most 10^22. strtod reads the rest;
    /// calling it for all 27,000 lines was on the way to a scan's first packet.
    private static func decimal(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
        var mantissa: UInt64 = 0, digits = 0, fraction = -1
        for byte in field {
            if byte == 0x2E, fraction < 0 { fraction = 0; continue }  // "."
            guard byte >= 0x30, byte <= 0x39, digits < 15 else { return parsedByStrtod(field) }
            mantissa = mantissa * 10 + UInt64(byte - 0x30)
            digits += 1
            if fraction >= 0 { fraction += 1 }
        }
        guard digits > 0, fraction <= 22 else { return parsedByStrtod(field) }
        return Double(mantissa) / powersOfTen[max(fraction, 0)]
    }

    private static let powersOfTen: [Double] = (0...22).map { k in (0..<k).reduce(1.0) { r, _ in r * 10 } }

    private static func parsedByStrtod(_ field: UnsafeBufferPointer<UInt8>) -> Double? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: field.count + 1) { buffer in
            for k in 0..<field.count { buffer[k] = CChar(bitPattern: field[k]) }
            buffer[field.count] = 0
            var end: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(buffer.baseAddress!, &end)
            guard let end, end == buffer.baseAddress! + field.count, field.count > 0 else { return nil }
            return value
        }
    }

    /// The service name listed for the port, or nil if the file has none.
    public func name(port: Int, protocol proto: PortProtocol) -> String? {
        guard (0...65535).contains(port) else { return nil }
        let k = slots[Self.slot(port, proto)]
        return k < 0 ? nil : entry(lines[Int(k)]).name
    }

    /// The name nmap prints in the SERVICE column: "unknown" when unlisted.
    public func displayName(port: Int, protocol proto: PortProtocol) -> String {
        name(port: port, protocol: proto) ?? "unknown"
    }

    /// Ports whose service name matches `pattern` (`*` and `?` globs,
    /// case-insensitive), ascending.
    public func ports(named pattern: String, protocol proto: PortProtocol) -> [Int] {
        lines.filter { $0.proto == proto }.map(entry).filter { globMatches(pattern, $0.name) }.map(\.port).sorted()
    }

    /// The `n` ports most often found open, as nmap's `--top-ports n` picks
    /// them (ties broken by lower port number), returned ascending.
    public func topPorts(_ n: Int, protocol proto: PortProtocol) -> [Int] {
        guard n > 0 else { return [] }
        let ranked = lines.filter { $0.proto == proto }.sorted {
            $0.frequency != $1.frequency ? $0.frequency > $1.frequency : $0.port < $1.port
        }
        return ranked.prefix(n).map { Int($0.port) }.sorted()
    }
}
