import Glibc
import NSEBroker

/// Checks an audit log's hash chain (docs/audit.md): every line's `prev` must be
/// the SHA-256 of the line before it (64 zeros for the first), `seq` must count
/// 1, 2, 3, ..., and nothing may follow the `end` record. A last line without its
/// newline is a record the broker was writing when it died: not counted.
public enum AuditVerify {
    public struct Report: Equatable, Sendable {
        /// Complete records that chain.
        public var records: Int
        /// Whether the log ends with the broker's `end` record.
        public var ended: Bool
        /// The first bad line (1-based) and what is wrong with it.
        public var failure: (line: Int, reason: String)?

        public static func == (a: Report, b: Report) -> Bool {
            a.records == b.records && a.ended == b.ended && a.failure?.line == b.failure?.line && a.failure?.reason == b.failure?.reason
        }
    }

    public static func verify(_ bytes: [UInt8]) -> Report {
        var report = Report(records: 0, ended: false, failure: nil)
        var prev = String(repeating: "0", count: 64)
        var start = 0
        var number = 0
        while let end = bytes[start...].firstIndex(of: 10) {
            number += 1
            let line = bytes[start...end]
            let text = String(decoding: line.dropLast(), as: UTF8.self)
            if report.ended { report.failure = (number, "a record after the end record"); return report }
            guard let linked = field(text, "prev"), linked == prev else {
                report.failure = (number, "prev does not match the SHA-256 of line \(number - 1)")
                return report
            }
            guard let seq = field(text, "seq"), seq == String(number) else {
                report.failure = (number, "seq is not \(number)")
                return report
            }
            prev = AuditLog.sha256Hex(line)
            report.records = number
            if field(text, "event") == "end" { report.ended = true }
            start = end + 1
        }
        return report
    }

    /// The value of a top-level field in one of our lines: a number, or a string
    /// without escapes (prev, seq and event are written so).
    static func field(_ line: String, _ name: String) -> String? {
        guard let r = line.firstRange(of: "\"\(name)\":") else { return nil }
        let rest = line[r.upperBound...]
        if rest.hasPrefix("\"") {
            let body = rest.dropFirst()
            guard let close = body.firstIndex(of: "\"") else { return nil }
            return String(body[..<close])
        }
        return String(rest.prefix { $0.isNumber })
    }
}

/// One line of an audit log as field -> text (strings unescaped, numbers and
/// booleans as written, arrays of strings joined). Our records are flat objects;
/// anything else is nil.
public enum AuditRecord {
    /// Joins the items of an array field in `parse`'s result.
    public static let listSeparator: Character = "\u{1F}"

    /// The items of an array field.
    public static func list(_ text: String?) -> [String] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: listSeparator, omittingEmptySubsequences: false).map(String.init)
    }

    public static func parse(_ line: String) -> [String: String]? {
        var chars = Array(line.unicodeScalars)[...]
        func skipSpace() { while let c = chars.first, c == " " || c == "\t" || c == "\r" || c == "\n" { chars.removeFirst() } }
        func string() -> String? {
            guard chars.first == "\"" else { return nil }
            chars.removeFirst()
            var out = String.UnicodeScalarView()
            while let c = chars.popFirst() {
                if c == "\"" { return String(out) }
                guard c == "\\" else { out.append(c); continue }
                guard let e = chars.popFirst() else { return nil }
                switch e {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                case "u":
                    guard chars.count >= 4, let v = UInt32(String(String.UnicodeScalarView(chars.prefix(4))), radix: 16) else { return nil }
                    chars.removeFirst(4)
                    out.append(UnicodeScalar(v) ?? "\u{FFFD}")
                default: out.append(e)
                }
            }
            return nil
        }
        skipSpace()
        guard chars.popFirst() == "{" else { return nil }
        var fields: [String: String] = [:]
        while true {
            skipSpace()
            if chars.first == "}" { return fields }
            guard let key = string() else { return nil }
            skipSpace()
            guard chars.popFirst() == ":" else { return nil }
            skipSpace()
            if chars.first == "\"" {
                guard let value = string() else { return nil }
                fields[key] = value
            } else if chars.first == "[" {
                // An array of strings: its items joined by `listSeparator`.
                chars.removeFirst()
                var items: [String] = []
                skipSpace()
                while chars.first != "]" {
                    guard let item = string() else { return nil }
                    items.append(item)
                    skipSpace()
                    if chars.first == "," { chars.removeFirst(); skipSpace() }
                }
                chars.removeFirst()
                fields[key] = items.joined(separator: String(listSeparator))
            } else {
                var raw = String.UnicodeScalarView()
                while let c = chars.first, c != ",", c != "}" { raw.append(c); chars.removeFirst() }
                fields[key] = String(raw).trimming { $0.isWhitespace && !$0.isNewline }
            }
            skipSpace()
            if chars.first == "," { chars.removeFirst() }
        }
    }
}
