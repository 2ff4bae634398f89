import Glibc
import NSEScan

/// A script file selected for the run.
public struct ScriptFile: Sendable, Equatable {
    public var path: String
    /// The short name nmap shows: the file name without ".nse".
    public var name: String
    /// Named explicitly (by name or path): nmap raises its verbosity by one.
    public var selectedByName: Bool
    /// Selected with "+": runs whatever its rule says.
    public var forced: Bool
}

/// Turns `--script` words into script files the way nmap resolves them: a script
/// name, a file path, a directory, a category or a file-name glob from script.db,
/// or "all". Unmatched words are an error before anything runs.
public struct ScriptCatalog {
    public let dataDirectories: [String]

    public init(dataDirectories: [String]) { self.dataDirectories = dataDirectories }

    public func resolve(_ spec: String) throws(SpecError) -> [ScriptFile] {
        var out: [ScriptFile] = []
        for rawWord in splitSpec(spec) {
            var word = rawWord
            let forced = word.hasPrefix("+")
            if forced { word.removeFirst() }
            guard !word.isEmpty else { continue }
            let found = try resolveWord(word, forced: forced)
            for f in found where !out.contains(where: { $0.path == f.path }) { out.append(f) }
        }
        return out
    }

    /// Splits on commas outside quotes and parentheses.
    private func splitSpec(_ spec: String) -> [String] {
        var words: [String] = [], current = "", depth = 0
        for c in spec {
            if c == "(" { depth += 1 } else if c == ")" { depth -= 1 }
            if c == "," && depth == 0 { words.append(current); current = "" } else { current.append(c) }
        }
        words.append(current)
        return words.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }

    private func resolveWord(_ word: String, forced: Bool) throws(SpecError) -> [ScriptFile] {
        // A path to a file or directory.
        if word.contains("/") || word.hasSuffix(".nse") {
            if isDirectory(word) { return scripts(inDirectory: word, forced: forced, byName: false) }
            if isFile(word) { return [file(word, forced: forced, byName: true)] }
        }
        // A script name.
        for dir in dataDirectories {
            let path = dir + "/scripts/" + word + ".nse"
            if isFile(path) { return [file(path, forced: forced, byName: true)] }
            if word.hasSuffix(".nse"), isFile(dir + "/scripts/" + word) {
                return [file(dir + "/scripts/" + word, forced: forced, byName: true)]
            }
        }
        if isDirectory(word) { return scripts(inDirectory: word, forced: forced, byName: false) }
        // A category, "all", or a glob over script names.
        let db = scriptDatabase()
        let lowered = word.lowercased()
        let matches: [String]
        if lowered == "all" {
            matches = db.map(\.file)
        } else if word.contains("*") || word.contains("?") {
            let pattern = word.hasSuffix(".nse") ? word : word + ".nse"
            matches = db.map(\.file).filter { globMatches(pattern, $0) }
        } else {
            matches = db.filter { $0.categories.contains(lowered) }.map(\.file)
        }
        guard !matches.isEmpty else {
            throw SpecError("'\(word)' did not match a category, filename, or directory")
        }
        return matches.compactMap { name in
            dataDirectories.lazy.map { $0 + "/scripts/" + name }.first(where: isFile)
        }.map { file($0, forced: forced, byName: false) }
    }

    private func file(_ path: String, forced: Bool, byName: Bool) -> ScriptFile {
        var base = String(path.split(separator: "/").last ?? Substring(path))
        if base.hasSuffix(".nse") { base.removeLast(4) }
        return ScriptFile(path: path, name: base, selectedByName: byName, forced: forced)
    }

    private func scripts(inDirectory dir: String, forced: Bool, byName: Bool) -> [ScriptFile] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name.hasSuffix(".nse") { names.append(name) }
        }
        let base = dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        return names.sorted().map { file(base + "/" + $0, forced: forced, byName: byName) }
    }

    /// script.db: one `Entry { filename = "x.nse", categories = { "a", "b", } }` a line.
    func scriptDatabase() -> [(file: String, categories: [String])] {
        for dir in dataDirectories {
            guard let text = try? readTextFile(dir + "/scripts/script.db") else { continue }
            var out: [(String, [String])] = []
            for line in text.split(separator: "\n") {
                let quoted = line.split(separator: "\"", omittingEmptySubsequences: false)
                guard quoted.count >= 3 else { continue }
                let filename = String(quoted[1])
                let categories = stride(from: 3, to: quoted.count, by: 2).map { String(quoted[$0]).lowercased() }
                out.append((filename, categories))
            }
            return out
        }
        return []
    }
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
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
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
