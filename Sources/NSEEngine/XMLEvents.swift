/// A reader of XML documents as nmap writes them (-oX): elements, attributes,
/// character data and CDATA, with the five named entities and character
/// references decoded; the declaration, processing instructions, comments and
/// the document type are skipped. It checks what makes a file unreadable as
/// nmap output (a tag that does not close what is open, text outside the root,
/// a bad attribute or entity) and says on which line. A document that simply
/// ends early is the caller's to notice (its root never closes).
///
/// nsebox reads these files itself rather than through Foundation's XMLParser:
/// Foundation (with ICU and libxml2) was most of the broker's executable and of
/// what the dynamic loader does before every scan (docs/performance.md).
struct XMLEvents {
    enum Event {
        case start(String, [String: String])
        case end(String)
        case text(String)
    }

    struct Failure: Error {
        var line: Int
        var why: String
    }

    private let bytes: [UInt8]
    private var at = 0
    private(set) var line = 1

    /// Reads `bytes` from start to end, handing each event to `handle` with the
    /// line it is on. What `handle` throws ends the reading.
    static func read(_ bytes: [UInt8], _ handle: (Event, Int) throws(Failure) -> Void) throws(Failure) {
        var reader = XMLEvents(bytes: bytes)
        try reader.run(handle)
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { at = 3 }  // a UTF-8 byte order mark
    }

    private mutating func run(_ handle: (Event, Int) throws(Failure) -> Void) throws(Failure) {
        var open: [String] = []
        var rootDone = false
        while at < bytes.count {
            if bytes[at] != UInt8(ascii: "<") {
                let startLine = line
                let raw = take(until: UInt8(ascii: "<"))
                if open.isEmpty {
                    guard raw.allSatisfy(Self.isSpace) else { throw Failure(line: startLine, why: "text outside the root element") }
                } else {
                    try handle(.text(try decode(raw, at: startLine)), startLine)
                }
                continue
            }
            if skip("<?") {
                guard skipPast("?>") else { return }
            } else if skip("<!--") {
                guard skipPast("-->") else { return }
            } else if skip("<![CDATA[") {
                let startLine = line, begin = at
                guard skipPast("]]>") else { return }
                guard !open.isEmpty else { throw Failure(line: startLine, why: "CDATA outside the root element") }
                try handle(.text(String(decoding: bytes[begin..<(at - 3)], as: UTF8.self)), startLine)
            } else if skip("<!") {
                guard skipDeclaration() else { return }
            } else if skip("</") {
                let tagLine = line
                guard let name = name() else { throw Failure(line: tagLine, why: "a bad end tag") }
                skipSpaces()
                guard at < bytes.count else { return }
                guard skip(">") else { throw Failure(line: line, why: "a bad end tag </\(name)>") }
                guard let top = open.last else { throw Failure(line: tagLine, why: "</\(name)> closes nothing") }
                guard top == name else { throw Failure(line: tagLine, why: "</\(name)> where <\(top)> is open") }
                open.removeLast()
                if open.isEmpty { rootDone = true }
                try handle(.end(name), tagLine)
            } else {
                at += 1
                let tagLine = line
                guard let name = name() else { throw Failure(line: tagLine, why: "a bad start tag") }
                guard !(open.isEmpty && rootDone) else { throw Failure(line: tagLine, why: "<\(name)> after the root element") }
                guard let (attributes, empty) = try attributes(of: name) else { return }
                try handle(.start(name, attributes), tagLine)
                if empty {
                    if open.isEmpty { rootDone = true }
                    try handle(.end(name), tagLine)
                } else {
                    open.append(name)
                }
            }
        }
    }

    /// The attributes up to the tag's end, and whether it was empty (`/>`);
    /// nil if the document ends first.
    private mutating func attributes(of element: String) throws(Failure) -> ([String: String], Bool)? {
        var attributes: [String: String] = [:]
        while true {
            let spaced = skipSpaces()
            guard at < bytes.count else { return nil }
            if skip("/>") { return (attributes, true) }
            if skip(">") { return (attributes, false) }
            let attributeLine = line
            guard spaced, let key = name() else { throw Failure(line: attributeLine, why: "a bad attribute in <\(element)>") }
            skipSpaces()
            guard skip("=") else { throw Failure(line: line, why: "attribute \(key) of <\(element)> has no value") }
            skipSpaces()
            guard at < bytes.count else { return nil }
            let quote = bytes[at]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw Failure(line: line, why: "attribute \(key) of <\(element)> is not quoted")
            }
            at += 1
            let valueLine = line
            let raw = take(until: quote)
            guard at < bytes.count else { return nil }
            at += 1
            guard !raw.contains(UInt8(ascii: "<")) else { throw Failure(line: valueLine, why: "'<' in attribute \(key) of <\(element)>") }
            guard attributes[key] == nil else { throw Failure(line: attributeLine, why: "attribute \(key) twice in <\(element)>") }
            attributes[key] = try decode(raw, at: valueLine)
        }
    }

    /// Text with its entity and character references replaced.
    private func decode(_ raw: ArraySlice<UInt8>, at startLine: Int) throws(Failure) -> String {
        guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        var lineHere = startLine
        while i < raw.endIndex {
            let b = raw[i]
            if b == 0x0A { lineHere += 1 }
            guard b == UInt8(ascii: "&") else { out.append(b); i += 1; continue }
            guard let semicolon = raw[i...].firstIndex(of: UInt8(ascii: ";")), semicolon - i <= 12 else {
                throw Failure(line: lineHere, why: "an unterminated '&' reference")
            }
            let reference = String(decoding: raw[(i + 1)..<semicolon], as: UTF8.self)
            switch reference {
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "amp": out.append(UInt8(ascii: "&"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let code = reference.hasPrefix("#x") ? UInt32(reference.dropFirst(2), radix: 16)
                    : reference.hasPrefix("#") ? UInt32(reference.dropFirst(), radix: 10) : nil
                guard let code, code != 0, let scalar = Unicode.Scalar(code) else {
                    throw Failure(line: lineHere, why: "an unknown reference &\(reference);")
                }
                out += Array(String(Character(scalar)).utf8)
            }
            i = semicolon + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `<!DOCTYPE ...>` and the like, with an internal subset in brackets; false
    /// if the document ends first.
    private mutating func skipDeclaration() -> Bool {
        var depth = 0
        while at < bytes.count {
            let b = bytes[at]
            advance()
            if b == UInt8(ascii: "[") { depth += 1 }
            if b == UInt8(ascii: "]") { depth -= 1 }
            if b == UInt8(ascii: ">") && depth <= 0 { return true }
        }
        return false
    }

    /// An XML name (letters, digits, and _ : . - or any non-ASCII byte).
    private mutating func name() -> String? {
        let begin = at
        while at < bytes.count {
            let b = bytes[at]
            let nameByte = b >= 0x80 || (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A)
                || (at > begin && ((b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E)) || b == 0x5F || b == 0x3A
            guard nameByte else { break }
            at += 1
        }
        return at > begin ? String(decoding: bytes[begin..<at], as: UTF8.self) : nil
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private mutating func advance() {
        if bytes[at] == 0x0A { line += 1 }
        at += 1
    }

    /// Whether any space was skipped.
    @discardableResult
    private mutating func skipSpaces() -> Bool {
        let begin = at
        while at < bytes.count, Self.isSpace(bytes[at]) { advance() }
        return at > begin
    }

    private mutating func skip(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard at + n <= bytes.count else { return false }
        let matches = literal.withUTF8Buffer { lit in (0..<n).allSatisfy { bytes[at + $0] == lit[$0] } }
        if matches { for _ in 0..<n { advance() } }
        return matches
    }

    /// Moves past the next `literal`; false if the document ends first.
    private mutating func skipPast(_ literal: StaticString) -> Bool {
        while at < bytes.count {
            if skip(literal) { return true }
            advance()
        }
        return false
    }

    /// The bytes up to (not including) `stop`, or to the end.
    private mutating func take(until stop: UInt8) -> ArraySlice<UInt8> {
        let begin = at
        while at < bytes.count, bytes[at] != stop { advance() }
        return bytes[begin..<at]
    }
}
