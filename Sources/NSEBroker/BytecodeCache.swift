import Glibc
import NSESystem

/// nselib's bytecode, kept between scans: the zygote's compile of the modules
/// it loads (about 12 ms for W1's 38) is on the path of every scan's first
/// instance, and loading bytecode takes a fifth of that.
///
/// The bytecode comes from the zygote (`zygoteBytecode`), which compiled it
/// from nmap's own nselib and ran no script; later zygotes get it in their job,
/// the only place a binary chunk is accepted (docs/security.md). Lua does not
/// check bytecode, so whoever can write the cache can run code in the zygote:
/// the directory and every file must belong to this user and be writable by no
/// one else, and so must every directory above it (or belong to root; one that
/// others may write must be sticky, as /tmp is), none of them a symbolic link,
/// or the cache is not used. A file is named after the SHA-256 of what it
/// was compiled from: the module's chunk name and source, and the child
/// executable it was compiled for (its size, modification time and inode), so a
/// changed module or a new build of nsebox never meets old bytecode.
///
/// Each build of the child executable has a directory of its own in the cache,
/// named after that executable: when a build first uses the cache, the
/// directories of builds none has used for `unusedDays` go.
///
/// The cache: $NSEBOX_CACHE_DIR ("off" or empty: no cache), else
/// $XDG_CACHE_HOME/nsebox/bytecode, else $HOME/.cache/nsebox/bytecode.
public final class BytecodeCache {
    /// This build's directory in the cache.
    public let directory: String
    private let salt: [UInt8]
    /// A file larger than this is not bytecode of nselib's (CompiledModules' limit).
    static let maxBytes = CompiledModules.maxBytes
    /// Lua 5.4's binary chunks start with ESC "Lua" and the version byte.
    static let signature: [UInt8] = [0x1B, 0x4C, 0x75, 0x61, 0x54]
    /// Days after which another build's directory is removed.
    static let unusedDays = 7

    /// The cache for children of `childPath`, in the directory the environment
    /// names (created, mode 0700, if missing); nil when it is turned off or not
    /// safe to use.
    public static func forChildren(of childPath: String) -> BytecodeCache? {
        guard let dir = directoryFromEnvironment() else { return nil }
        return BytecodeCache(directory: dir, childPath: childPath)
    }

    static func directoryFromEnvironment() -> String? {
        func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
        if let dir = env("NSEBOX_CACHE_DIR") { return dir.isEmpty || dir == "off" ? nil : dir }
        if let xdg = env("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return xdg + "/nsebox/bytecode" }
        if let home = env("HOME"), home.hasPrefix("/") { return home + "/.cache/nsebox/bytecode" }
        return nil
    }

    /// `cache`: the cache's directory (this build's is made in it).
    init?(directory cache: String, childPath: String) {
        // An absolute path without "." or ".." in it, so that each directory
        // above it is checked as it is.
        let parts = cache.split(separator: "/")
        guard cache.hasPrefix("/"), !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        let base = "/" + parts.joined(separator: "/")
        guard let exe = BytecodeCache.status(childPath, following: true) else { return nil }
        salt = Array("nsebox bytecode 1\0\(exe.st_size)\0\(exe.st_mtim.tv_sec).\(exe.st_mtim.tv_nsec)\0\(exe.st_ino)\0".utf8)
        let build = String(AuditLog.sha256Hex(salt[...]).prefix(16))
        directory = base + "/" + build
        let isNew = BytecodeCache.status(directory, following: false) == nil
        guard BytecodeCache.makeDirectory(directory), BytecodeCache.isSafe(directory) else { return nil }
        if isNew { BytecodeCache.prune(base, keeping: build) }
    }

    /// The file name for a module's bytecode.
    public func key(chunkName: String, source: [UInt8]) -> String {
        AuditLog.sha256Hex((salt + Array(chunkName.utf8) + [0] + source)[...])
    }

    /// Removes the directories of other builds (16 hex digits, this user's)
    /// that have not changed for `unusedDays`, with their files.
    static func prune(_ base: String, keeping build: String, now: time_t = time(nil)) {
        for name in entries(of: base) where name.count == 16 && name != build && name.utf8.allSatisfy(isHex) {
            let path = base + "/" + name
            guard let info = status(path, following: false), info.st_uid == geteuid(), info.st_mode & S_IFMT == S_IFDIR,
                  now - info.st_mtim.tv_sec > unusedDays * 86_400 else { continue }
            for file in entries(of: path) { _ = try? syscall("unlink(\(path)/\(file))") { unlink(path + "/" + file) } }
            _ = try? syscall("rmdir(\(path))") { rmdir(path) }
        }
    }

    /// The names in a directory but "." and "..".
    static func entries(of path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }

    /// The bytecode stored under `key`, if the file is there, private and looks
    /// like Lua 5.4 bytecode (anything else is as if it were missing).
    public func lookup(_ key: String) -> [UInt8]? {
        let path = directory + "/" + key
        guard let fd = try? syscall("open(\(path))", { open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }) else { return nil }
        let file = FileDescriptor(taking: fd)
        var info = stat()
        guard (try? syscall("fstat(\(path))", { fstat(file.raw, &info) })) != nil,
              BytecodeCache.isPrivate(info, directory: false),
              info.st_size > 0, info.st_size <= BytecodeCache.maxBytes,
              let bytes = try? file.readExactly(Int(info.st_size)), bytes.starts(with: BytecodeCache.signature)
        else { return nil }
        return bytes
    }

    /// Stores `bytecode` under `key` (a new file, renamed into place, so a
    /// reader sees all of it or none). Returns whether it did; a cache that
    /// cannot be written is only slower.
    @discardableResult
    public func store(_ key: String, _ bytecode: [UInt8]) -> Bool {
        guard key.count == 64, key.utf8.allSatisfy(BytecodeCache.isHex),
              bytecode.starts(with: BytecodeCache.signature), bytecode.count <= BytecodeCache.maxBytes else { return false }
        // A name no other nsebox uses now (one a crashed run left goes first).
        let temporary = directory + "/.\(key).\(getpid())"
        _ = try? syscall("unlink(\(temporary))") { unlink(temporary) }
        guard let fd = try? syscall("open(\(temporary))", {
            open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }) else { return false }
        let file = FileDescriptor(taking: fd)
        guard (try? file.writeAll(bytecode)) != nil,
              (try? syscall("rename(\(temporary))", { rename(temporary, directory + "/" + key) })) != nil else {
            _ = try? syscall("unlink(\(temporary))") { unlink(temporary) }
            return false
        }
        return true
    }

    /// Creates the directory and its parents (mode 0700) where missing.
    static func makeDirectory(_ path: String) -> Bool {
        if let info = status(path, following: true) { return info.st_mode & S_IFMT == S_IFDIR }
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !parent.isEmpty, !makeDirectory(parent) { return false }
        do { _ = try syscall("mkdir(\(path))") { mkdir(path, 0o700) } } catch { return error.errno == EEXIST }
        return true
    }

    /// stat(2), or lstat(2) when not `following` a link; nil when it fails.
    static func status(_ path: String, following: Bool) -> stat? {
        var info = stat()
        let done = try? syscall(following ? "stat(\(path))" : "lstat(\(path))") {
            following ? stat(path, &info) : lstat(path, &info)
        }
        return done == nil ? nil : info
    }

    /// Whether no one else can put files in the directory: it is private
    /// (`isPrivate`), and every directory above it is a directory (not a link)
    /// of this user's or root's that others cannot write to, unless it is sticky.
    static func isSafe(_ directory: String) -> Bool {
        guard let own = status(directory, following: false), isPrivate(own, directory: true) else { return false }
        var path = directory
        while let slash = path.lastIndex(of: "/") {
            path = slash == path.startIndex ? "/" : String(path[..<slash])
            guard let info = status(path, following: false), info.st_mode & S_IFMT == S_IFDIR,
                  info.st_uid == 0 || info.st_uid == geteuid(),
                  info.st_mode & 0o022 == 0 || info.st_mode & S_ISVTX != 0 else { return false }
            if path == "/" { break }
        }
        return true
    }

    static func isPrivate(_ info: stat, directory: Bool) -> Bool {
        info.st_uid == geteuid() && info.st_mode & 0o022 == 0
            && info.st_mode & S_IFMT == (directory ? S_IFDIR : S_IFREG)
    }
}
