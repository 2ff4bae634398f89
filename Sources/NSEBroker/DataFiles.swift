import Glibc
import NSEPolicy
import NSEWire

/// The files a script may read, all through the broker: nselib modules by name,
/// and nmap's data files by name or by a path inside nmap's data directories.
/// Everything else is refused, whatever path tricks a script tries.
public final class DataFiles {
    /// Data directories in nmap's search order (--datadir, $NMAPDIR, ~/.nmap, /usr/share/nmap).
    public let directories: [String]
    private var cache: [String: [UInt8]] = [:]

    public init(directories: [String]) {
        self.directories = directories.map { DataFiles.canonical($0) ?? $0 }
    }

    /// Source and chunk name of an nselib module ("http", "data.idnaMappings").
    public func module(_ name: String) -> (source: [UInt8], chunkName: String)? {
        if let cached = modules[name] { return cached }
        guard DataFiles.isModuleName(name) else { return nil }
        let relative = "nselib/" + name.split(separator: ".").joined(separator: "/") + ".lua"
        guard let path = locate(relative), let bytes = readInside(path) else { return nil }
        modules[name] = (bytes, "@" + path)
        return (bytes, "@" + path)
    }

    /// nselib modules as first read: every instance of a scan loads the same ones,
    /// as nmap reads each once.
    private var modules: [String: (source: [UInt8], chunkName: String)] = [:]

    /// nmap.fetchfile: the absolute path of a data file name, if it exists.
    public func locate(_ relative: String) -> String? {
        guard !relative.isEmpty, !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else { return nil }
        for dir in directories {
            let path = dir + "/" + relative
            if isRegularFile(path) { return path }
        }
        return nil
    }

    /// Files the user named in script arguments (userdb=…, passdb=…, a key file),
    /// links resolved: scripts may read these wherever they are, as they may in nmap.
    public private(set) var userFiles: Set<String> = []

    /// Adds the values that name a regular file (relative to the current directory
    /// or absolute) to `userFiles`; other values are ignored.
    public func allowUserFiles(_ candidates: [String]) {
        for path in candidates where !path.isEmpty && path.utf8.count < 4096 {
            if let real = DataFiles.canonical(path), isRegularFile(real) { userFiles.insert(real) }
        }
    }

    /// Reads what `sources` (a policy's `read`) allow: a file the user named
    /// (script-args), a data file by name (searched like fetchfile) or by a path
    /// inside a data directory (nmap-data), or a file under an allowed path.
    /// Returns nil for anything else.
    public func readAllowed(_ pathOrName: String,
                            sources: Set<ScriptRights.ReadSource> = [.nmapData, .scriptArgs]) -> [UInt8]? {
        guard !pathOrName.isEmpty, pathOrName.utf8.count < 4096 else { return nil }
        // Only a user's file or a policy path needs the name resolved here.
        let needsReal = (sources.contains(.scriptArgs) && !userFiles.isEmpty) || sources.contains { if case .path = $0 { true } else { false } }
        if needsReal, let real = DataFiles.canonical(pathOrName) {
            if sources.contains(.scriptArgs), userFiles.contains(real) { return read(real) }
            for case .path(let dir) in sources where real.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/") && isRegularFile(real) {
                return read(real)
            }
        }
        guard sources.contains(.nmapData) else { return nil }
        if pathOrName.hasPrefix("/") { return readInside(pathOrName) }
        return locate(pathOrName).flatMap(readInside)
    }

    /// Reads a file only if, links resolved, it lies inside a data directory.
    private func readInside(_ path: String) -> [UInt8]? {
        guard let real = DataFiles.canonical(path), directories.contains(where: { real.hasPrefix($0 + "/") }) else {
            return nil
        }
        return read(real)
    }

    /// lfs.attributes and lfs.dir, read-only and inside the data directories:
    /// mode, size, modification time, and for a directory its entries.
    public func info(_ path: String) -> Value? {
        let full = path.hasPrefix("/") ? path : (locate(path) ?? "")
        guard let real = DataFiles.canonical(full),
              directories.contains(where: { real == $0 || real.hasPrefix($0 + "/") }) else { return nil }
        var st = stat()
        guard stat(real, &st) == 0 else { return nil }
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        var fields: [(String, Value)] = [
            ("mode", .string(isDir ? "directory" : (st.st_mode & S_IFMT) == S_IFREG ? "file" : "other")),
            ("size", .int(Int64(st.st_size))),
            ("modification", .int(Int64(st.st_mtim.tv_sec))),
            ("access", .int(Int64(st.st_atim.tv_sec))),
            ("change", .int(Int64(st.st_ctim.tv_sec))),
        ]
        if isDir, let d = opendir(real) {
            defer { closedir(d) }
            var names: [Value] = []
            while let e = readdir(d), names.count < 100_000 {
                let name = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                names.append(.string(name))
            }
            fields.append(("entries", .array(names)))
        }
        return .record(fields)
    }

    /// The largest file served: it must fit in one frame with room to spare.
    static let maxFileSize = WireLimits.maxFrameBody - 4096

    static func isModuleName(_ name: String) -> Bool {
        !name.isEmpty && name.count < 128 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
        }
    }

    /// realpath(3): resolves links and dots, so a prefix check means what it says.
    static func canonical(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    private func read(_ path: String) -> [UInt8]? {
        if let c = cache[path] { return c }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out.append(contentsOf: buf[..<n])
            if out.count > DataFiles.maxFileSize { return nil }
        }
        cache[path] = out
        return out
    }
}
