#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ServiceTable {
    /// Finds one of nmap's data files (nmap-services, nmap-protocols, ...)
    /// in the order nmap searches: `--datadir`, `$NMAPDIR`, `~/.nmap`, then
    /// the system directory. Returns the first readable regular file.
    public static func locateDataFile(_ name: String, datadir: String?, environment: [String: String]) -> String? {
        for directory in dataDirectories(datadir: datadir, environment: environment) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            if isReadableFile(path) { return path }
        }
        return nil
    }

    /// nmap's data directories in search order: `--datadir`, `$NMAPDIR`,
    /// `~/.nmap`, then /usr/share/nmap.
    public static func dataDirectories(datadir: String?, environment: [String: String]) -> [String] {
        var directories: [String] = []
        if let datadir, !datadir.isEmpty { directories.append(datadir) }
        if let dir = environment["NMAPDIR"], !dir.isEmpty { directories.append(dir) }
        if let home = environment["HOME"], !home.isEmpty { directories.append(home + "/.nmap") }
        directories.append("/usr/share/nmap")
        return directories
    }

    private static func isReadableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, R_OK) == 0
    }
}

/// Reads a whole file as UTF-8 (invalid bytes are replaced, not fatal).
public func readTextFile(_ path: String) throws(SpecError) -> String {
    String(decoding: try readFileBytes(path), as: UTF8.self)
}

/// A whole file's bytes, read into one buffer of the size fstat(2) gives (more
/// reads if the file grew meanwhile); the same errors as `readTextFile`.
public func readFileBytes(_ path: String) throws(SpecError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        throw SpecError("Cannot open \"\(path)\": \(String(cString: strerror(errno))).")
    }
    defer { close(fd) }
    var info = stat()
    var capacity = fstat(fd, &info) == 0 && info.st_size > 0 ? Int(info.st_size) + 1 : 65536
    var bytes: [UInt8] = []
    while true {
        var failure: Int32 = 0
        // Read straight into the new array: no zeroed chunk to copy from.
        let part = [UInt8](unsafeUninitializedCapacity: capacity) { p, count in
            count = 0
            while count < capacity {
                let n = read(fd, p.baseAddress! + count, capacity - count)
                if n < 0 { if errno == EINTR { continue }; failure = errno; return }
                if n == 0 { break }
                count += n
            }
        }
        if failure != 0 { throw SpecError("Cannot read \"\(path)\": \(String(cString: strerror(failure))).") }
        if bytes.isEmpty { bytes = part } else { bytes += part }
        if part.count < capacity { return bytes }
        capacity = 65536
    }
}
