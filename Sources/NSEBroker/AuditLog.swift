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
            case .bool(let b): return b ? "true" : "false"
            case .bytes(let b): return AuditLog.base64(b)
            case .list(let l): return l.joined(separator: " ")
            }
        }
    }

    private let fd: FileDescriptor?
    private var seq: UInt64 = 0
    private var prev = String(repeating: "0", count: 64)
    public let path: String?
    /// Sees every record as it is written (`--script-trace` prints a transcript).
    public var tap: ((_ event: String, _ instance: String, _ script: String, _ target: String,
                      _ fields: [(String, Field)]) -> Void)?

    /// A log written to `path`; with nil, records only go to `tap`.
    public init(path: String?) throws {
        self.path = path
        guard let path else { fd = nil; return }
        let raw = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard raw >= 0 else { throw SystemError("open(\(path))", errno: errno) }
        fd = FileDescriptor(taking: raw)
    }

    /// Appends one record. The line reaches the kernel (one write) before this
    /// returns, so a broker killed afterwards still leaves it in the file.
    public func record(_ event: String, instance: String, script: String, target: String, _ fields: [(String, Field)] = []) {
        tap?(event, instance, script, target, fields)
        guard path != nil else { return }
        seq += 1
        var line = "{\"seq\":\(seq),\"ts\":\(Self.quote(Self.timestamp())),\"instance\":\(Self.quote(instance))"
        line += ",\"script\":\(Self.quote(script)),\"target\":\(Self.quote(target)),\"event\":\(Self.quote(event))"
        for (key, value) in fields {
            line += ",\(Self.quote(key)):"
            switch value {
            case .string(let s): line += Self.quote(s)
            case .int(let i): line += String(i)
            case .bool(let b): line += b ? "true" : "false"
            case .bytes(let b): line += Self.quote(Self.base64(b))
            case .list(let l): line += "[" + l.map(Self.quote).joined(separator: ",") + "]"
            }
        }
        line += ",\"prev\":\"\(prev)\"}\n"
        let bytes = Array(line.utf8)
        prev = Self.sha256Hex(bytes[...])
        try? fd?.writeAll(bytes)
    }

    /// SHA-256 of `bytes`, lower-case hex.
    public static func sha256Hex(_ bytes: ArraySlice<UInt8>) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { p in _ = SHA256(p.baseAddress, p.count, &digest) }
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// RFC 3339 UTC with microseconds: 2026-11-26T20:54:30.123456Z.
    static func timestamp() -> String {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        var tm = Glibc.tm()
        var seconds = t.tv_sec
        gmtime_r(&seconds, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec, Int(t.tv_nsec / 1000))
    }

    /// A JSON string literal; anything outside printable ASCII is escaped.
    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case " "..."~": out.unicodeScalars.append(u)
            default:
                for unit in String(u).utf16 { out += String(format: "\\u%04x", unit) }
            }
        }
        return out + "\""
    }

    public static func base64(_ bytes: ArraySlice<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let n = min(3, bytes.endIndex - i)
            let b0 = UInt32(bytes[i]), b1 = n > 1 ? UInt32(bytes[i + 1]) : 0, b2 = n > 2 ? UInt32(bytes[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(n > 1 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(v & 63)] : UInt8(ascii: "="))
            i += n
        }
        return String(decoding: out, as: UTF8.self)
    }
}
