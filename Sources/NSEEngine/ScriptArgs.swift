import NSEScan
import NSEWire

/// Parses `--script-args` as nmap reads it: comma-separated fields, each `name=value`
/// or a bare `value`; a value is a `{...}` table, a quoted string, or plain text up
/// to the next `,` or `}`. Every leaf is a string, as in nmap.
public struct ScriptArgsParser {
    private let chars: [Character]
    private var i = 0

    public static func parse(_ text: String) throws(SpecError) -> Value {
        var p = ScriptArgsParser(chars: Array(text))
        let fields = try p.fields(until: nil)
        p.skipSpace()
        guard p.i == p.chars.count else { throw p.error("unexpected '\(p.chars[p.i])'") }
        return fields
    }

    private init(chars: [Character]) { self.chars = chars }

    private func error(_ what: String) -> SpecError {
        SpecError("Error parsing --script-args: \(what) at position \(i + 1) of \"\(String(chars))\"")
    }

    private mutating func skipSpace() { while i < chars.count, chars[i].isWhitespace { i += 1 } }

    private mutating func fields(until close: Character?) throws(SpecError) -> Value {
        var entries: [TableEntry] = []
        var index: Int64 = 1
        while true {
            skipSpace()
            if i == chars.count { if close != nil { throw error("missing '}'") }; break }
            if let close, chars[i] == close { i += 1; break }
            if chars[i] == "," { i += 1; continue }
            let first = try value()
            skipSpace()
            if i < chars.count, chars[i] == "=" {
                i += 1
                guard case .bytes = first else { throw error("a table cannot be a name") }
                skipSpace()
                entries.append(TableEntry(first, try value()))
            } else {
                entries.append(TableEntry(.int(index), first))
                index += 1
            }
            skipSpace()
            if i < chars.count, chars[i] != ",", chars[i] != close { throw error("expected ','") }
        }
        return .table(entries)
    }

    private mutating func value() throws(SpecError) -> Value {
        skipSpace()
        guard i < chars.count else { throw error("missing value") }
        if chars[i] == "{" { i += 1; return try fields(until: "}") }
        if chars[i] == "\"" || chars[i] == "'" {
            let quote = chars[i]
            i += 1
            var s = ""
            while i < chars.count, chars[i] != quote {
                if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                s.append(chars[i]); i += 1
            }
            guard i < chars.count else { throw error("unterminated string") }
            i += 1
            return .string(s)
        }
        var s = ""
        while i < chars.count, !",={}".contains(chars[i]) { s.append(chars[i]); i += 1 }
        let trimmed = s.trimmingSpaces()
        guard !trimmed.isEmpty else { throw error("empty value") }
        return .string(trimmed)
    }
}
