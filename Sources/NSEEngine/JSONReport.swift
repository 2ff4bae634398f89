import NSEScan
import NSEWire

/// nsebox's JSON report (-oJ): one document for tools, written by our own small
/// writer so that objects keep their key order (the order the report and the
/// scripts' tables give).
///
/// ```
/// {
///   "scanner": "nsebox", "version": "0.1", "nmap_version": "7.93",
///   "args": "nsebox -oJ out.json ...",      // argv joined with spaces
///   "start": 1795713924,                    // Unix time, whole seconds
///   "elapsed": 0.13,                        // seconds
///   "prescripts": [SCRIPT...],
///   "hosts": [{
///     "address": "127.0.0.1", "addrtype": "ipv4",
///     "hostname": "localhost" | null,       // the name the user gave
///     "status": "up", "latency": 0.00015 | null,
///     "ports": [{"port": 80, "protocol": "tcp", "state": "open", "reason": "syn-ack",
///                "service": "http", "version": {...} | null, "scripts": [SCRIPT...]}],
///     "hostscripts": [SCRIPT...]
///   }],
///   "postscripts": [SCRIPT...]
/// }
/// SCRIPT = {"id": "http-title", "output": "text", "data": STRUCTURED | null}
/// ```
///
/// Every port scanned is listed (no collapsing into "Not shown").
///
/// Strings: script output and every other text is written from its bytes.
/// Valid UTF-8 is kept as it is (non-ASCII characters unescaped); `"` and `\`
/// and control bytes are escaped (`\n`, `\t`, `\r`, `\b`, `\f`, otherwise
/// `\u00XX`, and DEL as `\u007f`). A byte that is not part of valid UTF-8 is
/// written as `\u00XX` with the byte's value, so a decoder reads it as the code
/// point U+00XX (as Latin-1 would); such a string cannot be told apart from one
/// holding that character, which is the price of staying valid JSON.
///
/// `data`, the structured output (what a script returned as a table):
/// - a table holding only keyed entries is an object, keys in the table's order;
/// - a table holding only sequence items (or nothing) is an array ([] when empty);
/// - a table holding both is an object whose first member has the key "" and
///   holds the sequence items as an array, followed by the keyed entries;
/// - strings are JSON strings, booleans are booleans, integers and finite
///   floats are numbers; an infinite or NaN float is the string Lua would
///   print ("inf", "-inf", "nan").
/// `data` is null when the script returned only text.
public enum JSONReport {
    public static func render(_ r: ScanReport, context c: ReportContext) -> String {
        let doc: JSON = .object([
            ("scanner", .string("nsebox")),
            ("version", .string("0.1")),
            ("nmap_version", .string("7.93")),
            ("args", .string(c.args)),
            ("start", .int(Int64(r.startTime))),
            ("elapsed", .double((r.elapsed * 100).rounded() / 100)),
            ("prescripts", .array(r.preScripts.map(script))),
            ("hosts", .array(r.hosts.map(host))),
            ("postscripts", .array(r.postScripts.map(script))),
        ])
        var out: [UInt8] = []
        doc.write(into: &out, indent: 0)
        out.append(10)
        return String(decoding: out, as: UTF8.self)
    }

    static func host(_ h: HostReport) -> JSON {
        .object([
            ("address", .string(h.target.address)),
            ("addrtype", .string(h.target.family == .ipv6 ? "ipv6" : "ipv4")),
            ("hostname", h.target.targetName.map { .string($0) } ?? .null),
            ("status", .string("up")),
            ("latency", h.latency.map { .double($0) } ?? .null),
            ("ports", .array(h.ports.map(port))),
            ("hostscripts", .array(XMLReport.sortedScripts(h.hostScripts).map(script))),
        ])
    }

    static func port(_ p: PortReport) -> JSON {
        .object([
            ("port", .int(Int64(p.port))),
            ("protocol", .string(p.proto.rawValue)),
            ("state", .string(p.state)),
            ("reason", .string(p.reason)),
            ("service", .string(p.service)),
            ("version", p.version.map(plainValue) ?? .null),
            ("scripts", .array(XMLReport.sortedScripts(p.scripts).map(script))),
        ])
    }

    static func script(_ s: ScriptResult) -> JSON {
        .object([
            ("id", .string(s.id)),
            ("output", .bytes(s.output)),
            ("data", s.structured.map(structured) ?? .null),
        ])
    }

    /// The child's structured form (`{o = {k1, v1, ...}}`) as JSON (see the type's comment).
    static func structured(_ v: Value) -> JSON {
        guard case .table = v else { return scalar(v) }
        let entries = StructuredOutput.entries(v)
        let sequence = entries.filter { $0.0 == nil }.map { structured($0.1) }
        let keyed = entries.compactMap { e in e.0.map { ($0, structured(e.1)) } }
        if keyed.isEmpty { return .array(sequence) }
        if sequence.isEmpty { return .rawObject(keyed) }
        return .rawObject([([], .array(sequence))] + keyed)
    }

    static func scalar(_ v: Value) -> JSON {
        switch v {
        case .bytes(let b): return .bytes(b)
        case .bool(let b): return .bool(b)
        case .int(let n): return .int(n)
        case .double(let d): return d.isFinite ? .double(d) : .string(StructuredOutput.luaNumber(d))
        case .none: return .null
        case .table: return plainValue(v)
        }
    }

    /// A wire table as it is (string keys -> object in order, else a sequence -> array).
    static func plainValue(_ v: Value) -> JSON {
        guard case .table(let entries) = v else { return scalar(v) }
        let stringKeyed = entries.compactMap { e -> ([UInt8], JSON)? in
            if case .bytes(let k) = e.key { return (k, plainValue(e.value)) }
            return nil
        }
        if stringKeyed.isEmpty { return .array(v.arrayPart.map(plainValue)) }
        return .rawObject(stringKeyed)
    }
}

/// A JSON value with ordered objects; strings are bytes (see JSONReport).
indirect enum JSON {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case array([JSON])
    case rawObject([([UInt8], JSON)])

    static func string(_ s: String) -> JSON { .bytes(Array(s.utf8)) }
    static func object(_ members: [(String, JSON)]) -> JSON { .rawObject(members.map { (Array($0.0.utf8), $0.1) }) }

    /// Pretty-printed, two spaces per level; empty arrays and objects as [] and {}.
    func write(into out: inout [UInt8], indent: Int) {
        switch self {
        case .null: out += Array("null".utf8)
        case .bool(let b): out += Array((b ? "true" : "false").utf8)
        case .int(let n): out += Array(String(n).utf8)
        case .double(let d):
            // Swift prints the shortest text that reads back as the same double;
            // all of its forms ("2.5", "1e+20", "5e-324") are JSON numbers.
            out += Array((d.isFinite ? "\(d)" : "null").utf8)
        case .bytes(let b): JSON.writeString(b, into: &out)
        case .array(let items):
            if items.isEmpty { out += Array("[]".utf8); return }
            out += Array("[\n".utf8)
            for (i, item) in items.enumerated() {
                out += [UInt8](repeating: 32, count: indent + 2)
                item.write(into: &out, indent: indent + 2)
                out += Array((i == items.count - 1 ? "\n" : ",\n").utf8)
            }
            out += [UInt8](repeating: 32, count: indent) + [UInt8(ascii: "]")]
        case .rawObject(let members):
            if members.isEmpty { out += Array("{}".utf8); return }
            out += Array("{\n".utf8)
            for (i, (key, value)) in members.enumerated() {
                out += [UInt8](repeating: 32, count: indent + 2)
                JSON.writeString(key, into: &out)
                out += Array(": ".utf8)
                value.write(into: &out, indent: indent + 2)
                out += Array((i == members.count - 1 ? "\n" : ",\n").utf8)
            }
            out += [UInt8](repeating: 32, count: indent) + [UInt8(ascii: "}")]
        }
    }

    /// A JSON string from bytes: valid UTF-8 kept, other bytes as \u00XX.
    static func writeString(_ b: [UInt8], into out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        func escaped(_ byte: UInt8) {
            out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        }
        out.append(UInt8(ascii: "\""))
        var i = 0
        while i < b.count {
            let c = b[i]
            switch c {
            case UInt8(ascii: "\""): out += Array("\\\"".utf8); i += 1
            case UInt8(ascii: "\\"): out += Array("\\\\".utf8); i += 1
            case 10: out += Array("\\n".utf8); i += 1
            case 13: out += Array("\\r".utf8); i += 1
            case 9: out += Array("\\t".utf8); i += 1
            case 8: out += Array("\\b".utf8); i += 1
            case 12: out += Array("\\f".utf8); i += 1
            case 0..<0x20, 0x7f: escaped(c); i += 1
            case 0x20..<0x7f: out.append(c); i += 1
            default:
                let n = utf8SequenceLength(b, at: i)
                if n > 0 { out += b[i..<(i + n)]; i += n } else { escaped(c); i += 1 }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The length of the valid UTF-8 sequence (2-4 bytes, no overlong forms,
    /// no surrogates, at most U+10FFFF) starting at `i`, or 0.
    static func utf8SequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let c = b[i]
        let n: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; high = 0x9F
        case 0xF0: n = 4; low = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; high = 0x8F
        default: return 0
        }
        guard i + n <= b.count else { return 0 }
        guard (low...high).contains(b[i + 1]) else { return 0 }
        for k in 2..<max(2, n) where !(0x80...0xBF).contains(b[i + k]) { return 0 }
        return n
    }
}
