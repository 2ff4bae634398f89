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
    /// The line being built, kept for its capacity. Unchecked, as the broker's
    /// loop state is (Reactor): only `record` touches it and the clock, on the
    /// broker's one thread, and nothing it calls while it holds them calls back.
    @exclusivity(unchecked) private var line = AuditLine()
    @exclusivity(unchecked) private var clock = TimestampCache()
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
    /// killed afterwards still leaves it in the file.
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
            var out = AuditLine(capacity: 64)
            out.append("\",\"instance\":")
            out.quote(instance)
            out.append(",\"script\":")
            out.quote(script)
            out.append(",\"target\":")
            out.quote(target)
            encoded = Array(out.bytes)
        }
    }

    public func record(_ event: String, from source: Source, _ fields: [(String, Field)] = []) {
        tap?(event, source.instance, source.script, source.target, fields)
        guard path != nil else { return }
        seq += 1
        line.removeAll()
        line.append("{\"seq\":")
        line.decimal(seq)
        line.append(",\"ts\":\"")
        clock.append(into: &line)
        line.append(source.encoded)
        line.append(",\"event\":")
        line.quote(event)
        for (key, value) in fields {
            line.append(UInt8(ascii: ","))
            line.quote(key)
            line.append(UInt8(ascii: ":"))
            switch value {
            case .string(let s): line.quote(s)
            case .int(let i):
                if i < 0 { line.append(UInt8(ascii: "-")) }
                line.decimal(i.magnitude)
            case .double(let d): line.append(Array((d.isFinite ? String(d) : "null").utf8))
            case .bool(let b): line.append(b ? "true" : "false")
            case .bytes(let b):
                line.append(UInt8(ascii: "\""))
                line.base64(b)
                line.append(UInt8(ascii: "\""))
            case .list(let l):
                line.append(UInt8(ascii: "["))
                for (i, item) in l.enumerated() {
                    if i > 0 { line.append(UInt8(ascii: ",")) }
                    line.quote(item)
                }
                line.append(UInt8(ascii: "]"))
            }
        }
        line.append(",\"prev\":\"")
        line.append(prev)
        line.append("\"}\n")
        Self.sha256Hex(line.bytes, into: &prev)
        file?.append(line.bytes)
    }

    /// After the last record (the scan's `end`): the file is cut to its lines.
    public func close() { file?.close() }

    /// SHA-256 of `bytes`, lower-case hex.
    public static func sha256Hex(_ bytes: ArraySlice<UInt8>) -> String {
        var hex = [UInt8](repeating: 0, count: 64)
        sha256Hex(bytes, into: &hex)
        return String(decoding: hex, as: UTF8.self)
    }

    /// SHA-256 of `bytes` as 64 lower-case hex digits, written over `hex`'s.
    static func sha256Hex(_ bytes: ArraySlice<UInt8>, into hex: inout [UInt8]) {
        bytes.withUnsafeBytes { sha256Hex($0, into: &hex) }
    }

    static func sha256Hex(_ bytes: UnsafeRawBufferPointer, into hex: inout [UInt8]) {
        precondition(hex.count == 64)
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digest) { d in
            let digits = AuditLine.hexDigits.utf8Start
            nsebox_sha256(bytes.baseAddress, bytes.count, d.baseAddress!.assumingMemoryBound(to: UInt8.self))
            hex.withUnsafeMutableBufferPointer { out in
                for i in 0..<32 {
                    let b = d[i]
                    out[2 * i] = digits[Int(b >> 4)]
                    out[2 * i + 1] = digits[Int(b & 15)]
                }
            }
        }
    }

    /// The time now as RFC 3339 UTC with microseconds, "2026-11-27T04:12:01.900880Z":
    /// its text up to the second is made again only when the second changes.
    struct TimestampCache {
        private var second = -1
        private var prefix: [UInt8] = []

        mutating func append(into out: inout AuditLine) {
            var t = timespec()
            clock_gettime(CLOCK_REALTIME, &t)
            if t.tv_sec != second {
                second = t.tv_sec
                var tm = Glibc.tm()
                var seconds = t.tv_sec
                gmtime_r(&seconds, &tm)
                var text = AuditLine(capacity: 32)
                text.digits(Int(tm.tm_year) + 1900, width: 4); text.append(UInt8(ascii: "-"))
                text.digits(Int(tm.tm_mon) + 1, width: 2); text.append(UInt8(ascii: "-"))
                text.digits(Int(tm.tm_mday), width: 2); text.append(UInt8(ascii: "T"))
                text.digits(Int(tm.tm_hour), width: 2); text.append(UInt8(ascii: ":"))
                text.digits(Int(tm.tm_min), width: 2); text.append(UInt8(ascii: ":"))
                text.digits(Int(tm.tm_sec), width: 2); text.append(UInt8(ascii: "."))
                prefix = Array(text.bytes)
            }
            out.append(prefix)
            out.digits(t.tv_nsec / 1000, width: 6)
            out.append(UInt8(ascii: "Z"))
        }
    }

    /// `s` as a JSON string (`AuditLine.quote`).
    static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        quote(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func quote(_ s: String, into out: inout [UInt8]) {
        var line = AuditLine(capacity: s.utf8.count + 2)
        line.quote(s)
        out += line.bytes
    }

    public static func base64(_ bytes: ArraySlice<UInt8>) -> String {
        var out = [UInt8]()
        base64(bytes, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `bytes` in base64 (`AuditLine.base64`).
    static func base64(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        var line = AuditLine(capacity: (bytes.count + 2) / 3 * 4 + 1)
        line.base64(bytes)
        out += line.bytes
    }
}
