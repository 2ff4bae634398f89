import COpenSSL
import Glibc
import NSESystem

/// `--audit-log FILE`: one JSON object per line for everything a script instance
/// does through the broker, written by the broker before it takes effect. Each
/// line's `prev` is the SHA-256 (hex) of the previous line's bytes with its
/// newline, 64 zeros for the first, so `sed -n Np FILE | sha256sum` checks a link.
/// A clean end writes an `end` record; docs/audit.md has the format.
public final class AuditLog {
    /// A field value: JSON text is made here, never from a script's bytes directly.
    public enum Field {
        case string(String)
        case int(Int64)
        /// A number with a fraction, written so that it reads back exactly.
        case double(Double)
        case bool(Bool)
        /// Bytes, as base64.
        case bytes(ArraySlice<UInt8>)
        /// A JSON array of strings.
        case list([String])

        /// The value as the log's JSON has it, without quotes (bytes in base64).
        public var text: String {
            switch self {
            case .string(let s): return s
            case .int(let i): return String(i)
            case .double(let d): return d.isFinite ? String(d) : "null"
            case .bool(let b): return b ? "true" : "false"
            case .bytes(let b): return AuditLog.base64(b)
            case .list(let l): return l.joined(separator: " ")
            }
        }
    }

    private let file: AuditFile?
    private var seq: UInt64 = 0
    /// The previous line's SHA-256 in hex, as the next line's `prev` has it.
    private var prev = [UInt8](repeating: UInt8(ascii: "0"), count: 64)
    /// The line being built (kept for its capacity: a record is made for every send and receive).
    private var line: [UInt8] = []
    public let path: String?
    /// Sees every record as it is written (`--script-trace` prints a transcript).
    public var tap: ((_ event: String, _ instance: String, _ script: String, _ target: String,
                      _ fields: [(String, Field)]) -> Void)?

    /// A log written to `path`; with nil, records only go to `tap`.
    public init(path: String?) throws {
        self.path = path
        file = try path.map { path throws(SystemError) in try AuditFile(path: path) }
    }

    /// Appends one record. The line reaches the kernel (copied into the file's
    /// shared mapping, or one write; `AuditFile`) before this returns, so a broker
    /// killed afterwards still leaves it in the file. The
    /// line is built as bytes: a record is made for every send and receive.
    public func record(_ event: String, instance: String, script: String, target: String, _ fields: [(String, Field)] = []) {
        record(event, from: Source(instance: instance, script: script, target: target), fields)
    }

    /// Who a record is about: an instance, its script and its target, their
    /// part of the line made once (a session makes one and uses it for all of
    /// its records).
    public final class Source {
        public let instance: String, script: String, target: String
        let encoded: [UInt8]
        public init(instance: String, script: String, target: String) {
            self.instance = instance
            self.script = script
            self.target = target
            var out = AuditLog.instanceKey
            AuditLog.quote(instance, into: &out)
            out += AuditLog.scriptKey
            AuditLog.quote(script, into: &out)
            out += AuditLog.targetKey
            AuditLog.quote(target, into: &out)
            encoded = out
        }
    }

    public func record(_ event: String, from source: Source, _ fields: [(String, Field)] = []) {
        tap?(event, source.instance, source.script, source.target, fields)
        guard path != nil else { return }
        seq += 1
        var line = self.line
        self.line = []
        line.removeAll(keepingCapacity: true)
        line.reserveCapacity(256 + fields.reduce(0) { n, f in if case .bytes(let b) = f.1 { return n + b.count * 4 / 3 + 4 }; return n })
        line += Self.seqKey
        Self.decimal(seq, into: &line)
        line += Self.tsKey
        timestamp(into: &line)
        line += source.encoded
        line += Self.eventKey
        Self.quote(event, into: &line)
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            Self.quote(key, into: &line)
            line.append(UInt8(ascii: ":"))
            switch value {
            case .string(let s): Self.quote(s, into: &line)
            case .int(let i):
                if i < 0 { line.append(UInt8(ascii: "-")) }
                Self.decimal(i.magnitude, into: &line)
            case .double(let d): line += (d.isFinite ? String(d) : "null").utf8
            case .bool(let b): line += (b ? "true" : "false").utf8
            case .bytes(let b):
                line.append(UInt8(ascii: "\""))
                Self.base64(b, into: &line)
                line.append(UInt8(ascii: "\""))
            case .list(let l):
                line.append(UInt8(ascii: "["))
                for (i, item) in l.enumerated() {
                    if i > 0 { line.append(UInt8(ascii: ",")) }
                    Self.quote(item, into: &line)
                }
                line.append(UInt8(ascii: "]"))
            }
        }
        line += Self.prevKey
        line += prev
        line += Self.lineEnd
        Self.sha256Hex(line[...], into: &prev)
        file?.append(line)
        self.line = line
    }

    /// After the last record (the scan's `end`): the file is cut to its lines.
    public func close() { file?.close() }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// SHA-256 of `bytes`, lower-case hex.
    public static func sha256Hex(_ bytes: ArraySlice<UInt8>) -> String {
        var hex = [UInt8](repeating: 0, count: 64)
        sha256Hex(bytes, into: &hex)
        return String(decoding: hex, as: UTF8.self)
    }

    /// SHA-256 of `bytes` as 64 lower-case hex digits, written over `hex`'s.
    static func sha256Hex(_ bytes: ArraySlice<UInt8>, into hex: inout [UInt8]) {
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digest) { d in
            bytes.withUnsafeBufferPointer { p in nsebox_sha256(p.baseAddress, p.count, d.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
            for (i, b) in d.enumerated() {
                hex[2 * i] = hexDigits[Int(b >> 4)]
                hex[2 * i + 1] = hexDigits[Int(b & 15)]
            }
        }
    }

    // The fixed parts of a line, made once.
    static let seqKey = Array("{\"seq\":".utf8), tsKey = Array(",\"ts\":\"".utf8)
    static let instanceKey = Array("\",\"instance\":".utf8), scriptKey = Array(",\"script\":".utf8)
    static let targetKey = Array(",\"target\":".utf8), eventKey = Array(",\"event\":".utf8)
    static let prevKey = Array(",\"prev\":\"".utf8), lineEnd = Array("\"}\n".utf8)

    static func decimal(_ v: UInt64, into out: inout [UInt8]) {
        if v >= 10 { decimal(v / 10, into: &out) }
        out.append(UInt8(48 + v % 10))
    }

    private var clock = TimestampCache()
    /// The time now as RFC 3339 UTC with microseconds, "2026-11-27T04:12:01.900880Z", appended.
    private func timestamp(into out: inout [UInt8]) { clock.append(into: &out) }

    /// The text of a timestamp up to its second, made again only when the second changes.
    struct TimestampCache {
        private var second = -1
        private var prefix: [UInt8] = []

        mutating func append(into out: inout [UInt8]) {
            var t = timespec()
            clock_gettime(CLOCK_REALTIME, &t)
            if t.tv_sec != second {
                second = t.tv_sec
                prefix = []
                var tm = Glibc.tm()
                var seconds = t.tv_sec
                gmtime_r(&seconds, &tm)
                Self.digits(Int(tm.tm_year) + 1900, 4, &prefix); prefix.append(UInt8(ascii: "-"))
                Self.digits(Int(tm.tm_mon) + 1, 2, &prefix); prefix.append(UInt8(ascii: "-"))
                Self.digits(Int(tm.tm_mday), 2, &prefix); prefix.append(UInt8(ascii: "T"))
                Self.digits(Int(tm.tm_hour), 2, &prefix); prefix.append(UInt8(ascii: ":"))
                Self.digits(Int(tm.tm_min), 2, &prefix); prefix.append(UInt8(ascii: ":"))
                Self.digits(Int(tm.tm_sec), 2, &prefix); prefix.append(UInt8(ascii: "."))
            }
            out += prefix
            Self.digits(t.tv_nsec / 1000, 6, &out)
            out.append(UInt8(ascii: "Z"))
        }

        private static func digits(_ v: Int, _ width: Int, _ out: inout [UInt8]) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            var v = v
            while divisor > 0 { out.append(UInt8(48 + (v / divisor) % 10)); v %= divisor; divisor /= 10 }
        }
    }

    static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        quote(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `s` as a JSON string: printable ASCII as it is, but for `"` and `\\`;
    /// every other character escaped (`\\n`, `\\uXXXX`, a surrogate pair above
    /// the BMP), so a line never holds a raw control or non-ASCII byte.
    static func quote(_ s: String, into out: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        out.append(quote)
        // Names, events and most values need no escape: copied in one go.
        var text = s
        let plain = text.withUTF8 { p -> Bool in
            for b in p where b < 0x20 || b >= 0x7f || b == quote || b == backslash { return false }
            out.append(contentsOf: p)
            return true
        }
        if plain {
            out.append(quote)
            return
        }
        for u in s.unicodeScalars {
            switch u {
            case "\"": out.append(backslash); out.append(quote)
            case "\\": out.append(backslash); out.append(backslash)
            case "\n": out.append(backslash); out.append(UInt8(ascii: "n"))
            case "\r": out.append(backslash); out.append(UInt8(ascii: "r"))
            case "\t": out.append(backslash); out.append(UInt8(ascii: "t"))
            case " "..."~": out.append(UInt8(u.value))
            default:
                for unit in String(u).utf16 {
                    out.append(backslash); out.append(UInt8(ascii: "u"))
                    for shift in [12, 8, 4, 0] { out.append(hexDigits[Int(unit >> UInt16(shift) & 15)]) }
                }
            }
        }
        out.append(quote)
    }

    public static func base64(_ bytes: ArraySlice<UInt8>) -> String {
        var out = [UInt8]()
        base64(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `bytes` in base64 (libcrypto's EVP_EncodeBlock: no line breaks).
    static func base64(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        let at = out.count
        let length = (bytes.count + 2) / 3 * 4
        // One byte more: EVP_EncodeBlock ends what it writes with a NUL.
        out.append(contentsOf: repeatElement(0, count: length + 1))
        var chunk = bytes.startIndex
        var written = at
        out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { p in
                // In pieces, as EVP_EncodeBlock counts in an Int32.
                while chunk < bytes.endIndex {
                    let n = min(bytes.endIndex - chunk, 3 << 20)
                    let from = p.baseAddress! + (chunk - bytes.startIndex)
                    written += Int(EVP_EncodeBlock(o.baseAddress! + written, from, Int32(n)))
                    chunk += n
                }
            }
        }
        out.removeLast(out.count - written)
    }
}
