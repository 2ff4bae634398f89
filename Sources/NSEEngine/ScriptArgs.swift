import NSEScan
import NSEWire

/// Parses `--script-args` (and the contents of `--script-args-file`) as nmap 7.93
/// reads them: fields separated by `,` or a newline, each `name=value` or a bare
/// `value`; a value is a `{...}` table of fields, a quoted string ('...' or "..."
/// with backslash escapes), or plain text up to the next `,` newline `{` `}` or `=`
/// with spaces around it dropped. Every leaf is a string, as in nmap.
public struct ScriptArgsParser {
    private let chars: [Character]
    private var i = 0

    /// Every string value in parsed arguments, nested tables included (the
    /// candidates for files a script may read: userdb=…, passdb=…).
    public static func strings(in args: Value) -> [String] {
        guard case .table(let entries) = args else { return args.text.map { [$0] } ?? [] }
        return entries.flatMap { strings(in: $0.value) }
    }

    public static func parse(_ text: String) throws(SpecError) -> Value {
        var p = ScriptArgsParser(chars: Array(text))
        p.skipSpace()
        let fields = try p.fieldList(closing: nil)
        p.skipSpace()
        guard p.i == p.chars.count else { throw p.error("unexpected '\(p.chars[p.i])'") }
        return fields
    }

    private init(chars: [Character]) { self.chars = chars }

    private func error(_ what: String) -> SpecError {
        SpecError("arguments did not parse: \(what) at character \(i + 1) of --script-args \"\(String(chars))\"")
    }

    private var atEnd: Bool { i >= chars.count }
    private func isHorizontalSpace(_ c: Character) -> Bool { c.isWhitespace && c != "\n" }
    private mutating func skipSpace() { while !atEnd, chars[i].isWhitespace { i += 1 } }
    private mutating func skipHorizontalSpace() { while !atEnd, isHorizontalSpace(chars[i]) { i += 1 } }

    /// Fields up to `closing` (or the end); an empty list is allowed.
    private mutating func fieldList(closing: Character?) throws(SpecError) -> Value {
        var entries: [TableEntry] = []
        var index: Int64 = 1
        if atEnd || chars[i] == closing { return .table([]) }
        while true {
            let first = try value()
            skipHorizontalSpace()
            if !atEnd, chars[i] == "=" {
                i += 1
                guard case .bytes = first else { throw error("a table cannot be a name") }
                skipHorizontalSpace()
                entries.append(TableEntry(first, try value()))
            } else {
                entries.append(TableEntry(.int(index), first))
                index += 1
            }
            skipHorizontalSpace()
            guard !atEnd, chars[i] == "," || chars[i] == "\n" else { break }
            i += 1
            skipSpace()
        }
        return .table(entries)
    }

    private mutating func value() throws(SpecError) -> Value {
        skipHorizontalSpace()
        if !atEnd, chars[i] == "{" {
            i += 1
            skipSpace()
            let t = try fieldList(closing: "}")
            skipSpace()
            guard !atEnd, chars[i] == "}" else { throw error("missing '}'") }
            i += 1
            return t
        }
        if !atEnd, chars[i] == "\"" || chars[i] == "'" {
            let quote = chars[i]
            i += 1
            var s = ""
            while !atEnd, chars[i] != quote {
                if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                s.append(chars[i])
                i += 1
            }
            guard !atEnd else { throw error("unterminated string") }
            i += 1
            return .string(s)
        }
        var s = ""
        while !atEnd, !",\n{}=".contains(chars[i]) { s.append(chars[i]); i += 1 }
        while let last = s.last, isHorizontalSpace(last) { s.removeLast() }
        return .string(s)
    }
}
