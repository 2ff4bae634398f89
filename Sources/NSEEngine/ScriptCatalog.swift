import Glibc
import NSEScan

/// A script file selected for the run.
public struct ScriptFile: Sendable, Equatable {
    public var path: String
    /// The short name nmap shows: the file name without ".nse".
    public var name: String
    /// Named explicitly (by name, name glob or path): nmap raises its verbosity by one.
    public var selectedByName: Bool
    /// Selected with "+": runs whatever its rule says.
    public var forced: Bool
    /// The file's bytes once read (`reading()`; nil before, or if unreadable): a
    /// scan reads each script once, so the zygote's early job and the describe
    /// jobs see the same bytes.
    public var source: [UInt8]?

    public init(path: String, name: String, selectedByName: Bool, forced: Bool) {
        self.path = path; self.name = name; self.selectedByName = selectedByName; self.forced = forced
    }

    /// This file with its bytes read (kept if they already were).
    public func reading() -> ScriptFile {
        var copy = self
        if copy.source == nil { copy.source = readBytes(path) }
        return copy
    }
}

/// One entry of scripts/script.db.
public struct ScriptDatabaseEntry: Sendable, Equatable {
    /// "banner.nse"
    public var filename: String
    /// Lower case, as `nmap --script-updatedb` writes them.
    public var categories: [String]

    public init(filename: String, categories: [String]) {
        self.filename = filename; self.categories = categories
    }

    /// The file name without its directory and ".nse": what name tokens match.
    /// (On the UTF-8 bytes: every entry of script.db is named at each scan's
    /// start, and Character by Character this was most of resolving --script.)
    public var baseName: String {
        var base = Substring(filename).utf8
        if let slash = base.lastIndex(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) {
            base = base[base.index(after: slash)...]
        }
        if base.count >= 4, base.suffix(4).elementsEqual(".nse".utf8) { base = base.dropLast(4) }
        return String(Substring(base))
    }
}

/// One `--script` expression, as nmap 7.93's grammar (nse_main.lua, get_chosen_scripts)
/// reads it:
///
///     rule       = space* expression space* END
///     expression = disjunct / conjunct / value
///     disjunct   = (conjunct / value) space* "or" space* expression
///     conjunct   = value space* "and" space* expression
///     value      = "not" space* value / "(" space* expression space* ")"
///                / "true" / "false" / "all" / word
///
/// Keywords are case-insensitive and must be followed by a space, a parenthesis, a
/// comma or the end. A word is a run of printable ASCII other than parentheses; it
/// matches a script that has it as a category (any case) or whose file name it
/// matches as a glob (case-sensitive, `*` the only wildcard, ".nse" optional).
///
/// The choices are PEG choices: the first that succeeds is kept. So "and" and "or"
/// bind equally, to the right: `a and b or c` is `a and (b or c)`, and
/// `a or b and c` is `a or (b and c)`; `not` binds tightest.
public indirect enum ScriptExpression: Sendable, Equatable, CustomStringConvertible {
    /// "true", "all" (true) and "false".
    case constant(Bool)
    /// A category or a file-name glob.
    case word(String)
    case not(ScriptExpression)
    case and(ScriptExpression, ScriptExpression)
    case or(ScriptExpression, ScriptExpression)

    /// nil when nmap's grammar does not accept the text (nmap then treats it as a path).
    public static func parse(_ text: String) -> ScriptExpression? {
        ExpressionParser(Array(text.utf8)).parseRule()
    }

    /// Whether a script with this base name and these categories is selected, and
    /// whether a name token matched it along the way (nmap's "selected by name",
    /// which raises the script's verbosity). Every operand is evaluated, as nmap's
    /// capture functions are.
    public func evaluate(name: String, categories: [String]) -> (selected: Bool, byName: Bool) {
        var byName = false
        // Called for every entry of script.db and every rule: compared in place,
        // with no lowered copies or sets made per call.
        func eval(_ e: ScriptExpression) -> Bool {
            switch e {
            case .constant(let b): return b
            case .word(let w):
                if categories.contains(where: { asciiEqualIgnoringCase($0, w) }) { return true }
                let m = scriptNameMatches(w, name)
                byName = byName || m
                return m
            case .not(let a): return !eval(a)
            case .and(let a, let b): let x = eval(a), y = eval(b); return x && y
            case .or(let a, let b): let x = eval(a), y = eval(b); return x || y
            }
        }
        return (eval(self), byName)
    }

    public var description: String {
        switch self {
        case .constant(let b): return b ? "true" : "false"
        case .word(let w): return w
        case .not(let a): return "(not \(a))"
        case .and(let a, let b): return "(\(a) and \(b))"
        case .or(let a, let b): return "(\(a) or \(b))"
        }
    }
}

/// nmap's match_script: ".nse" is dropped from the pattern, `*` is the only
/// wildcard, the match is anchored and case-sensitive.
public func scriptNameMatches(_ pattern: String, _ name: String) -> Bool {
    var pat = Array(pattern.utf8)
    if pat.count >= 4, Array(pat[(pat.count - 4)...]) == Array(".nse".utf8) { pat.removeLast(4) }
    let text = Array(name.utf8)
    var pi = 0, ti = 0, starP = -1, starT = 0
    while ti < text.count {
        if pi < pat.count, pat[pi] != UInt8(ascii: "*"), pat[pi] == text[ti] {
            pi += 1; ti += 1
        } else if pi < pat.count, pat[pi] == UInt8(ascii: "*") {
            starP = pi; starT = ti; pi += 1
        } else if starP >= 0 {
            pi = starP + 1; starT += 1; ti = starT
        } else {
            return false
        }
    }
    while pi < pat.count, pat[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == pat.count
}

/// Whether two strings are equal when ASCII letters are folded to lower case
/// (other bytes compared as they are), as `asciiLowercased(a) == asciiLowercased(b)`.
func asciiEqualIgnoringCase(_ a: String, _ b: String) -> Bool {
    var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
    while true {
        switch (i.next(), j.next()) {
        case (nil, nil): return true
        case let (x?, y?):
            guard x == y || ((x | 0x20) == (y | 0x20) && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A) else { return false }
        default: return false
        }
    }
}

func asciiLowercased(_ s: String) -> String {
    String(decoding: s.utf8.map { (65...90).contains($0) ? $0 + 32 : $0 }, as: UTF8.self)
}

/// A packrat parser for nmap's PEG (memoized, so nested parentheses stay linear).
private final class ExpressionParser {
    typealias Result = (ScriptExpression, Int)?
    let s: [UInt8]
    private var memoExpression: [Int: Result] = [:]
    private var memoConjunct: [Int: Result] = [:]
    private var memoValue: [Int: Result] = [:]

    init(_ s: [UInt8]) { self.s = s }

    func parseRule() -> ScriptExpression? {
        guard let (e, end) = expression(spaces(0)), spaces(end) == s.count else { return nil }
        return e
    }

    /// Lua's %s in the C locale.
    private func isSpace(_ c: UInt8) -> Bool { c == 32 || (9...13).contains(c) }

    private func spaces(_ i: Int) -> Int {
        var i = i
        while i < s.count, isSpace(s[i]) { i += 1 }
        return i
    }

    /// A case-insensitive keyword followed by a space, "(", ")", "," or the end.
    private func keyword(_ k: String, _ i: Int) -> Int? {
        var j = i
        for c in k.utf8 {
            guard j < s.count, s[j] | 0x20 == c else { return nil }
            j += 1
        }
        if j == s.count || isSpace(s[j]) || s[j] == UInt8(ascii: "(") || s[j] == UInt8(ascii: ")")
            || s[j] == UInt8(ascii: ",") {
            return j
        }
        return nil
    }

    private func expression(_ i: Int) -> Result {
        if let m = memoExpression[i] { return m }
        let r = disjunct(i) ?? conjunct(i) ?? value(i)
        memoExpression[i] = .some(r)
        return r
    }

    private func disjunct(_ i: Int) -> Result {
        guard let (left, j) = conjunct(i) ?? value(i), let k = keyword("or", spaces(j)),
              let (right, end) = expression(spaces(k)) else { return nil }
        return (.or(left, right), end)
    }

    private func conjunct(_ i: Int) -> Result {
        if let m = memoConjunct[i] { return m }
        var r: Result = nil
        if let (left, j) = value(i), let k = keyword("and", spaces(j)), let (right, end) = expression(spaces(k)) {
            r = (.and(left, right), end)
        }
        memoConjunct[i] = .some(r)
        return r
    }

    private func value(_ i: Int) -> Result {
        if let m = memoValue[i] { return m }
        let r = valueUnmemoized(i)
        memoValue[i] = .some(r)
        return r
    }

    private func valueUnmemoized(_ i: Int) -> Result {
        if let j = keyword("not", i), let (v, end) = value(spaces(j)) { return (.not(v), end) }
        if i < s.count, s[i] == UInt8(ascii: "("), let (e, j) = expression(spaces(i + 1)) {
            let k = spaces(j)
            if k < s.count, s[k] == UInt8(ascii: ")") { return (e, k + 1) }
        }
        if let j = keyword("true", i) { return (.constant(true), j) }
        if let j = keyword("false", i) { return (.constant(false), j) }
        if let j = keyword("all", i) { return (.constant(true), j) }
        // A category token consumes exactly what a word does, so one word node serves both.
        var j = i
        while j < s.count, (33...39).contains(s[j]) || (42...126).contains(s[j]) { j += 1 }
        return j > i ? (.word(String(decoding: s[i..<j], as: UTF8.self)), j) : nil
    }
}

/// Turns a `--script` argument into script files the way nmap 7.93 does
/// (nse_main.lua, get_chosen_scripts):
///
/// 1. The argument is split at every comma; each piece is stripped of surrounding
///    space, and a leading "+" marks it forced. Empty pieces are ignored.
/// 2. Every script in scripts/script.db, in the database's order, is tried against
///    every piece as a boolean expression (`ScriptExpression`); the first piece that
///    selects it decides whether it is forced and selected by name.
/// 3. Each piece that selected nothing is then looked up as a file or directory: an
///    absolute path as it is, otherwise under each data directory's scripts/, then
///    relative to the working directory, with ".nse" added if that fails. A
///    directory must be named with a trailing "/". Anything else is an error,
///    raised before any script runs.
public struct ScriptCatalog {
    public let dataDirectories: [String]

    public init(dataDirectories: [String]) { self.dataDirectories = dataDirectories }

    public func resolve(_ spec: String) throws(SpecError) -> [ScriptFile] {
        try resolve(spec, database: scriptDatabase())
    }

    /// `resolve` against a given database (entries in nmap's order).
    public func resolve(_ spec: String, database: [ScriptDatabaseEntry]) throws(SpecError) -> [ScriptFile] {
        // The rules, each once, in the order given; a later "+" (or its absence) wins,
        // as nmap's forced_rules table is overwritten.
        var rules: [(text: String, expression: ScriptExpression?)] = []
        var forced: [String: Bool] = [:]
        for piece in spec.split(separator: ",", omittingEmptySubsequences: false) {
            var rule = luaTrimmed(String(piece))
            let isForced = rule.hasPrefix("+")
            if isForced { rule.removeFirst() }
            guard !rule.isEmpty else { continue }
            if forced[rule] == nil { rules.append((rule, ScriptExpression.parse(rule))) }
            forced[rule] = isForced
        }

        var chosen: [ScriptFile] = []
        var loaded: Set<String> = []
        var used: Set<String> = []
        for entry in database {
            let base = entry.baseName
            var path: String?
            for rule in rules {
                guard let e = rule.expression else { continue }
                let (selected, byName) = e.evaluate(name: base, categories: entry.categories)
                guard selected else { continue }
                used.insert(rule.text)
                if path == nil { path = fetchScript(entry.filename)?.path ?? "" }
                guard let path, !path.isEmpty else { break }  // nmap warns and moves on
                if loaded.insert(path).inserted {
                    chosen.append(file(path, forced: forced[rule.text] ?? false, byName: byName))
                }
            }
        }

        for rule in rules where !used.contains(rule.text) {
            let isForced = forced[rule.text] ?? false
            guard let found = fetchScript(rule.text) ?? fetchScript(rule.text + ".nse") else {
                throw SpecError("'\(rule.text)' did not match a category, filename, or directory")
            }
            switch found.kind {
            case .bareDirectory:
                throw SpecError("directory '\(found.path)' found, but will not match without '/'")
            case .file:
                if loaded.insert(found.path).inserted {
                    chosen.append(file(found.path, forced: isForced, byName: true))
                }
            case .directory:
                for name in directoryEntries(found.path) where name.hasSuffix(".nse") {
                    let path = found.path + "/" + name
                    if loaded.insert(path).inserted {
                        chosen.append(file(path, forced: isForced, byName: false))
                    }
                }
            }
        }

        var names: Set<String> = []
        for f in chosen where !names.insert(f.name).inserted {
            throw SpecError("duplicate script ID: '\(f.name)'")
        }
        return chosen
    }

    enum FoundKind { case file, directory, bareDirectory }

    /// nmap's fetchscript: an absolute path as given; otherwise scripts/NAME in each
    /// data directory, then NAME relative to the working directory.
    func fetchScript(_ name: String) -> (kind: FoundKind, path: String)? {
        func kind(_ path: String) -> FoundKind? {
            if isFile(path) { return .file }
            if isDirectory(path) { return path.hasSuffix("/") ? .directory : .bareDirectory }
            return nil
        }
        if name.hasPrefix("/") { return kind(name).map { ($0, name) } }
        for dir in dataDirectories {
            let path = (dir.hasSuffix("/") ? dir : dir + "/") + "scripts/" + name
            if let k = kind(path) { return (k, path) }
        }
        return kind(name).map { ($0, name) }
    }

    private func file(_ path: String, forced: Bool, byName: Bool) -> ScriptFile {
        ScriptFile(path: path, name: scriptID(path), selectedByName: byName, forced: forced)
    }

    /// The entries of a directory in the order the file system lists them (as nmap's
    /// lfs.dir does).
    private func directoryEntries(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            names.append(name)
        }
        return names
    }

    /// script.db: one `Entry { filename = "x.nse", categories = { "a", "b", } }` a line,
    /// from the first data directory that has one.
    public func scriptDatabase() -> [ScriptDatabaseEntry] {
        for dir in dataDirectories {
            guard let text = try? readTextFile(dir + "/scripts/script.db") else { continue }
            return ScriptCatalog.parseDatabase(text)
        }
        return []
    }

    public static func parseDatabase(_ text: String) -> [ScriptDatabaseEntry] {
        // Split on the bytes of "\n" and "\"" (UTF-8 never has them inside another
        // character): splitting by Character was most of a scan's start-up, for
        // nmap's 605 lines.
        var out: [ScriptDatabaseEntry] = []
        for line in text.utf8.split(separator: 0x0A) {
            let quoted = line.split(separator: 0x22, omittingEmptySubsequences: false)
            guard quoted.count >= 3 else { continue }
            let categories = stride(from: 3, to: quoted.count - 1, by: 2).map {
                String(decoding: quoted[$0].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self)
            }
            out.append(ScriptDatabaseEntry(filename: String(decoding: quoted[1], as: UTF8.self), categories: categories))
        }
        return out
    }
}

/// nmap's script id: the file name without ".nse" (or, failing that, without its
/// last extension).
func scriptID(_ path: String) -> String {
    var base = Substring(path)
    if let slash = base.lastIndex(where: { $0 == "/" || $0 == "\\" }) { base = base[base.index(after: slash)...] }
    if base.hasSuffix(".nse"), base.count > 4 { return String(base.dropLast(4)) }
    if let dot = base.lastIndex(of: "."), dot != base.startIndex { return String(base[..<dot]) }
    return String(base)
}

/// Lua's `match(s, "^%s*(.-)%s*$")`.
func luaTrimmed(_ s: String) -> String {
    let b = Array(s.utf8)
    func space(_ c: UInt8) -> Bool { c == 32 || (9...13).contains(c) }
    var i = 0, j = b.count
    while i < j, space(b[i]) { i += 1 }
    while j > i, space(b[j - 1]) { j -= 1 }
    return String(decoding: b[i..<j], as: UTF8.self)
}

func isFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

extension String {
    /// The text without the characters `trimmed` accepts at either end.
    func trimming(_ trimmed: (Character) -> Bool) -> String {
        var s = Substring(self)
        while let c = s.first, trimmed(c) { s.removeFirst() }
        while let c = s.last, trimmed(c) { s.removeLast() }
        return String(s)
    }
}

/// Reads a whole file as bytes (scripts may hold bytes that are not UTF-8).
func readBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        out.append(contentsOf: buf[..<n])
    }
}
