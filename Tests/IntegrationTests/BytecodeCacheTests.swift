import Foundation
import Glibc
import Testing

/// nselib's bytecode kept between scans (BytecodeCache): the first scan's zygote
/// compiles the modules and the scripts of nmap's install and hands their
/// bytecode to the broker; later scans' zygotes load it instead. Whatever the
/// cache holds, a scan reports what nmap reports.
@Suite("nselib bytecode kept between scans")
struct BytecodeCacheTests {
    let scripts = "http-title,http-methods"

    /// (from the cache, compiled into it), nselib's modules and the scripts
    /// together, from NSEBOX_BROKER_STATS's lines "... of those, from the
    /// bytecode cache: 22; compiled into it: 0" and "... of those scripts, ...".
    func cacheCounts(_ stderr: String) -> (fromCache: Int, stored: Int)? {
        var total: (fromCache: Int, stored: Int) = (0, 0)
        for kind in ["of those", "of those scripts"] {
            let prefix = "nsebox broker: after host scripts: \(kind), from the bytecode cache: "
            guard let line = stderr.components(separatedBy: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
            let numbers = line.dropFirst(prefix.count).components(separatedBy: "; compiled into it: ").compactMap { Int($0) }
            guard numbers.count == 2 else { return nil }
            total = (total.fromCache + numbers[0], total.stored + numbers[1])
        }
        return total
    }

    /// An nginx whose page has `title`, and an empty scratch directory (removed
    /// when the returned cleanup runs) with the cache's path in it.
    func setUp(_ title: String) throws -> (nginx: NginxService, cache: String, cleanup: () -> Void) {
        let nginx = try NginxService(title: title, port: .httpLikely)
        let scratch = try scratchDirectory("bytecode")
        return (nginx, scratch.path + "/cache", { try? FileManager.default.removeItem(at: scratch) })
    }

    func scan(_ port: Int, cache: String) throws -> RunResult {
        try runNsebox(["--script", scripts, "-p", "\(port)", "127.0.0.1"],
                      environment: ["NSEBOX_BROKER_STATS": "1", "NSEBOX_CACHE_DIR": cache])
    }

    /// The scripts' output lines, sorted: the order of a port's scripts is not
    /// the same from run to run.
    func scriptLines(_ report: String) -> [Substring] {
        report.split(separator: "\n").filter { $0.hasPrefix("|") && !$0.contains("Date:") }.sorted()
    }

    /// The files of the one build's directory in the cache.
    func files(_ cache: String) -> [String] {
        let builds = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        guard builds.count == 1 else { return [] }
        return ((try? FileManager.default.contentsOfDirectory(atPath: cache + "/" + builds[0])) ?? [])
            .filter { !$0.hasPrefix(".") }.map { builds[0] + "/" + $0 }.sorted()
    }

    func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    @Test func aSecondScanLoadsNselibFromTheCacheAndReportsTheSame() throws {
        let (nginx, cache, cleanup) = try setUp("kept bytecode")
        defer { cleanup() }
        let nmap = try runNmap(["--script", scripts, "-p", "\(nginx.port)", "127.0.0.1"])

        let first = try scan(nginx.port, cache: cache)
        #expect(first.exitCode == 0, "\(first.stderr)")
        let stored = try #require(cacheCounts(first.stderr), "\(first.stderr)")
        #expect(stored.fromCache == 0 && stored.stored > 10, "\(first.stderr)")
        // One private file per module, named by a SHA-256, in a private directory.
        let names = files(cache)
        #expect(names.count == stored.stored, "\(names)")
        #expect(names.allSatisfy { $0.count == 16 + 1 + 64 && $0.replacingOccurrences(of: "/", with: "").allSatisfy(\.isHexDigit) },
                "\(names)")
        #expect(names.allSatisfy { mode(cache + "/" + $0) == 0o600 })
        #expect(mode(cache) == 0o700 && mode(cache + "/" + names[0].prefix(16)) == 0o700)

        let second = try scan(nginx.port, cache: cache)
        #expect(second.exitCode == 0, "\(second.stderr)")
        let loaded = try #require(cacheCounts(second.stderr), "\(second.stderr)")
        #expect(loaded.fromCache == stored.stored && loaded.stored == 0, "\(second.stderr)")
        #expect(brokerStat(second.stderr, "after host scripts: nselib loads by instances: ") == 0, "\(second.stderr)")
        #expect(scriptLines(second.stdout) == scriptLines(first.stdout), "first:\n\(first.stdout)\nsecond:\n\(second.stdout)")
        #expect(scriptLines(second.stdout) == scriptLines(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(second.stdout)")
        #expect(second.stdout.contains("|_http-title: kept bytecode"), "\(second.stdout)")
    }

    /// Bytecode that does not load (it starts like Lua's, then is garbage): the
    /// zygote asks for the module's source, and its bytecode replaces the bad file.
    @Test func cachedBytecodeThatDoesNotLoadIsReplaced() throws {
        let (nginx, cache, cleanup) = try setUp("repaired bytecode")
        defer { cleanup() }
        let first = try scan(nginx.port, cache: cache)
        let bad = try #require(files(cache).first)
        let garbage = Data([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00] + Array("not bytecode at all".utf8))
        try garbage.write(to: URL(fileURLWithPath: cache + "/" + bad))

        let second = try scan(nginx.port, cache: cache)
        #expect(second.exitCode == 0, "\(second.stderr)")
        #expect(cacheCounts(second.stderr)?.stored == 1, "\(second.stderr)")
        #expect(scriptLines(second.stdout) == scriptLines(first.stdout), "first:\n\(first.stdout)\nsecond:\n\(second.stdout)")
        let now = try Data(contentsOf: URL(fileURLWithPath: cache + "/" + bad))
        #expect(now != garbage && now.starts(with: [0x1B, 0x4C, 0x75, 0x61, 0x54]))

        let third = try scan(nginx.port, cache: cache)
        #expect(cacheCounts(third.stderr)?.stored == 0, "\(third.stderr)")
    }

    /// Whoever can write the cache could run code in the zygote: a directory
    /// others may write to is not used at all, a file others may write to is
    /// compiled again, and NSEBOX_CACHE_DIR=off turns the cache off.
    @Test func aCacheOthersCanWriteIsNotTrusted() throws {
        let (nginx, cache, cleanup) = try setUp("untrusted cache")
        defer { cleanup() }
        let first = try scan(nginx.port, cache: cache)
        let all = files(cache)
        #expect(all.count > 10)

        let writable = try #require(all.first)
        chmod(cache + "/" + writable, 0o666)
        let second = try scan(nginx.port, cache: cache)
        let counts = try #require(cacheCounts(second.stderr), "\(second.stderr)")
        #expect(counts.fromCache == all.count - 1 && counts.stored == 1, "\(second.stderr)")
        #expect(mode(cache + "/" + writable) == 0o600)

        chmod(cache, 0o777)
        let third = try scan(nginx.port, cache: cache)
        #expect(cacheCounts(third.stderr).map { $0.fromCache == 0 && $0.stored == 0 } == true, "\(third.stderr)")
        #expect(scriptLines(third.stdout) == scriptLines(first.stdout), "first:\n\(first.stdout)\nthird:\n\(third.stdout)")

        let off = cache + "-off"
        let fourth = try runNsebox(["--script", scripts, "-p", "\(nginx.port)", "127.0.0.1"],
                                   environment: ["NSEBOX_BROKER_STATS": "1", "NSEBOX_CACHE_DIR": "off", "HOME": off])
        #expect(cacheCounts(fourth.stderr).map { $0.fromCache == 0 && $0.stored == 0 } == true, "\(fourth.stderr)")
        #expect(!FileManager.default.fileExists(atPath: off))
        #expect(scriptLines(fourth.stdout) == scriptLines(first.stdout), "first:\n\(first.stdout)\nfourth:\n\(fourth.stdout)")
    }
}
