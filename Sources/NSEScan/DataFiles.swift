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
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        throw SpecError("Cannot open \"\(path)\": \(String(cString: strerror(errno))).")
    }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            throw SpecError("Cannot read \"\(path)\": \(String(cString: strerror(errno))).")
        }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
