/// nmap-payloads: the UDP datagrams nmap sends to a port so that a service which
/// ignores empty packets answers (a DNS query for 53, an SNMP get for 161, ...).
public struct UDPPayloads: Sendable {
    private var byPort: [Int: [[UInt8]]] = [:]

    public init() {}

    /// Loads the file; a malformed entry is skipped, a missing file is an error.
    public static func load(path: String) throws(SpecError) -> UDPPayloads {
        UDPPayloads(parsing: try readTextFile(path))
    }

    /// Entries: `udp PORTS "string" ["string"...] [source PORT]`, strings with C
    /// escapes, concatenated; `#` comments.
    public init(parsing text: String) {
        var tokens: [Token] = []
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.first {
            if c == "#" { while let d = chars.first, d != "\n" { chars.removeFirst() }; continue }
            if c.properties.isWhitespace { chars.removeFirst(); continue }
            if c == "\"" {
                chars.removeFirst()
                tokens.append(.string(UDPPayloads.quoted(&chars)))
                continue
            }
            var word = ""
            while let d = chars.first, !d.properties.isWhitespace, d != "\"" { word.unicodeScalars.append(d); chars.removeFirst() }
            tokens.append(.word(word))
        }
        var i = 0
        while i < tokens.count {
            guard case .word("udp") = tokens[i], i + 1 < tokens.count, case .word(let spec) = tokens[i + 1] else { i += 1; continue }
            i += 2
            var payload: [UInt8] = []
            while i < tokens.count, case .string(let s) = tokens[i] { payload += s; i += 1 }
            if i + 1 < tokens.count, case .word("source") = tokens[i] { i += 2 }
            for port in UDPPayloads.ports(spec) { byPort[port, default: []].append(payload) }
        }
    }

    /// The payloads for a port, in file order (empty: send an empty datagram).
    public func payloads(for port: Int) -> [[UInt8]] { byPort[port] ?? [] }

    private enum Token { case word(String), string([UInt8]) }

    private static func ports(_ spec: String) -> [Int] {
        spec.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1], bounds[1] <= 65535 { return Array(bounds[0]...bounds[1]) }
            if bounds.count == 1 { return [bounds[0]] }
            return []
        }
    }

    private static func quoted(_ chars: inout ArraySlice<Unicode.Scalar>) -> [UInt8] {
        var out: [UInt8] = []
        while let c = chars.first {
            chars.removeFirst()
            if c == "\"" { break }
            guard c == "\\", let e = chars.first else { out += Array(String(c).utf8); continue }
            chars.removeFirst()
            switch e {
            case "x":
                var hex = ""
                while hex.count < 2, let h = chars.first, h.properties.isASCIIHexDigit { hex.unicodeScalars.append(h); chars.removeFirst() }
                out.append(UInt8(hex, radix: 16) ?? 0)
            case "n": out.append(10)
            case "r": out.append(13)
            case "t": out.append(9)
            case "0": out.append(0)
            case "a": out.append(7)
            default: out += Array(String(e).utf8)
            }
        }
        return out
    }
}
