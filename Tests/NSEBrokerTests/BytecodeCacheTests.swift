import Foundation
import Glibc
import Testing
@testable import NSEBroker

/// BytecodeCache on its own: what a file is named after, and which directories
/// and files it refuses to trust. (A scan's use of it: IntegrationTests.)
@Suite("BytecodeCache")
struct BytecodeCacheUnitTests {
    let child = CommandLine.arguments[0]  // any executable: its identity goes into the keys
    let bytecode: [UInt8] = [0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00, 1, 2, 3]

    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-bc-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return dir
    }

    @Test func aKeyNamesTheSourceTheChunkNameAndTheChild() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try #require(BytecodeCache(directory: dir + "/c", childPath: child))
        let key = cache.key(chunkName: "@/usr/share/nmap/nselib/http.lua", source: Array("return 1".utf8))
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit))
        #expect(key == cache.key(chunkName: "@/usr/share/nmap/nselib/http.lua", source: Array("return 1".utf8)))
        #expect(key != cache.key(chunkName: "@/usr/share/nmap/nselib/http.lua", source: Array("return 2".utf8)))
        #expect(key != cache.key(chunkName: "@/usr/share/nmap/nselib/url.lua", source: Array("return 1".utf8)))
        // Another child executable (a new build) names other files.
        let other = try #require(BytecodeCache(directory: dir + "/c", childPath: "/bin/sh"))
        #expect(key != other.key(chunkName: "@/usr/share/nmap/nselib/http.lua", source: Array("return 1".utf8)))
    }

    @Test func whatIsStoredIsWhatIsFound() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try #require(BytecodeCache(directory: dir + "/a/b", childPath: child))
        let key = cache.key(chunkName: "@x", source: [1])
        #expect(cache.lookup(key) == nil)
        #expect(cache.store(key, bytecode))
        #expect(cache.lookup(key) == bytecode)
        // Only Lua 5.4 bytecode goes in, only under a key's name.
        #expect(!cache.store(key, Array("print(1)".utf8)))
        #expect(!cache.store("../escape", bytecode))
        #expect(cache.lookup(key) == bytecode)
    }

    @Test func filesOthersCouldHaveWrittenAreNotFound() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cache = try #require(BytecodeCache(directory: dir + "/c", childPath: child))
        let key = cache.key(chunkName: "@x", source: [1])
        #expect(cache.store(key, bytecode))
        chmod(cache.directory + "/" + key, 0o620)
        #expect(cache.lookup(key) == nil)
        chmod(cache.directory + "/" + key, 0o600)
        #expect(cache.lookup(key) == bytecode)
        // Not bytecode, or a link to bytecode: not found.
        let other = cache.key(chunkName: "@y", source: [1])
        try Data("print(1)".utf8).write(to: URL(fileURLWithPath: cache.directory + "/" + other))
        chmod(cache.directory + "/" + other, 0o600)
        #expect(cache.lookup(other) == nil)
        try FileManager.default.removeItem(atPath: cache.directory + "/" + other)
        symlink(cache.directory + "/" + key, cache.directory + "/" + other)
        #expect(cache.lookup(other) == nil)
    }

    @Test func aDirectoryOthersCanWriteToIsNotUsed() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(BytecodeCache(directory: dir + "/ok", childPath: child) != nil)
        chmod(dir + "/ok", 0o770)
        #expect(BytecodeCache(directory: dir + "/ok", childPath: child) == nil)
        // Above it too: a directory others may write to (and not sticky) could swap it.
        try FileManager.default.createDirectory(atPath: dir + "/open/c", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        chmod(dir + "/open", 0o777)
        #expect(BytecodeCache(directory: dir + "/open/c", childPath: child) == nil)
        chmod(dir + "/open", 0o1777)
        #expect(BytecodeCache(directory: dir + "/open/c", childPath: child) != nil)
        // Reached through a link, or named with "..": not used.
        symlink(dir + "/ok", dir + "/link")
        chmod(dir + "/ok", 0o700)
        #expect(BytecodeCache(directory: dir + "/link", childPath: child) == nil)
        #expect(BytecodeCache(directory: dir + "/open/../ok", childPath: child) == nil)
        #expect(BytecodeCache(directory: "relative/dir", childPath: child) == nil)
    }

    /// Each build of the child has its own directory; a build's first use
    /// removes other builds' directories unchanged for a week, and only those.
    @Test func aNewBuildRemovesTheDirectoriesOfBuildsLongUnused() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try #require(BytecodeCache(directory: dir, childPath: child))
        #expect(first.directory.hasPrefix(dir + "/") && first.directory.count == dir.count + 17)
        func build(_ name: String, daysOld: Int) throws -> String {
            let path = dir + "/" + name
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o700])
            try Data(bytecode).write(to: URL(fileURLWithPath: path + "/" + String(repeating: "a", count: 64)))
            let then = timespec(tv_sec: time(nil) - daysOld * 86_400, tv_nsec: 0)
            var times = [then, then]
            utimensat(AT_FDCWD, path, &times, 0)
            return path
        }
        let old = try build("0123456789abcdef", daysOld: 30)
        let recent = try build("fedcba9876543210", daysOld: 1)
        let notABuild = try build("keep-this-name", daysOld: 30)
        // The same build again: nothing removed.
        _ = try #require(BytecodeCache(directory: dir, childPath: child))
        #expect(FileManager.default.fileExists(atPath: old))
        // Another build's first use: the month-old build goes, nothing else.
        let other = try #require(BytecodeCache(directory: dir, childPath: "/bin/sh"))
        #expect(other.directory != first.directory)
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: recent))
        #expect(FileManager.default.fileExists(atPath: notABuild))
        #expect(FileManager.default.fileExists(atPath: first.directory))
    }
}
