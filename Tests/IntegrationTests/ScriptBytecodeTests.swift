import Foundation
import Testing

/// nmap's scripts parsed once per scan: the zygote compiles the scripts of nmap's
/// own install (as it compiles nselib), and every describe and instance job of
/// such a script runs the chunk the zygote loaded (a child the zygote did not
/// fork gets its bytecode) instead of parsing the source. What a user sees
/// is what nmap shows; a script from anywhere else is parsed by its own
/// instances only.
@Suite("Scripts of nmap's install compiled once, in the zygote")
struct ScriptBytecodeTests {
    /// (scripts the zygote compiled, jobs given their bytecode) from
    /// NSEBOX_BROKER_STATS's "... scripts with the zygote's bytecode: 2; jobs given their bytecode: 4"
    /// (compiled by this scan's zygote or taken from the cache, which a zygote made).
    func counts(_ stderr: String) -> (compiled: Int, jobs: Int)? {
        let prefix = "nsebox broker: after host scripts: scripts with the zygote's bytecode: "
        guard let line = stderr.components(separatedBy: "\n").first(where: { $0.hasPrefix(prefix) }) else { return nil }
        let numbers = line.dropFirst(prefix.count).components(separatedBy: "; jobs given their bytecode: ").compactMap { Int($0) }
        return numbers.count == 2 ? (numbers[0], numbers[1]) : nil
    }

    func scriptLines(_ report: String) -> [Substring] {
        report.split(separator: "\n").filter { $0.hasPrefix("|") }.sorted()
    }

    @Test func nmapsScriptsRunFromTheZygotesBytecodeAndReportWhatNmapDoes() throws {
        let nginx = try NginxService(title: "parsed once", port: .httpLikely)
        let args = ["--script", "http-title,http-methods", "-p", "\(nginx.port)", "127.0.0.1"]
        let nmap = try runNmap(args)
        let ours = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        // Two scripts compiled; their two describe jobs and two instances got the bytecode.
        let n = try #require(counts(ours.stderr), "\(ours.stderr)")
        #expect(n.compiled == 2 && n.jobs == 4, "\(ours.stderr)")
        #expect(ours.stdout.contains("|_http-title: parsed once"), "\(ours.stdout)")
        #expect(scriptLines(ours.stdout) == scriptLines(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
    }

    /// The scripts' bytecode is kept between scans too, in nselib's bytecode
    /// cache: a second scan's zygote compiles no script. Cached bytecode that
    /// does not load (it starts like Lua's, then is garbage) is compiled again
    /// and replaced, and the report is still nmap's.
    @Test func scriptsBytecodeIsKeptBetweenScansAndReplacedWhenItDoesNotLoad() throws {
        let nginx = try NginxService(title: "kept scripts", port: .httpLikely)
        let scratch = try scratchDirectory("script-cache")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let cache = scratch.path + "/cache"
        let args = ["--script", "http-title,http-methods", "-p", "\(nginx.port)", "127.0.0.1"]
        /// (scripts' bytecode from the cache, compiled into it), and the report.
        func scan() throws -> (fromCache: Int, stored: Int, lines: [Substring]) {
            let run = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1", "NSEBOX_CACHE_DIR": cache])
            #expect(run.exitCode == 0, "\(run.stderr)")
            #expect(counts(run.stderr).map { $0.compiled == 2 && $0.jobs == 4 } == true, "\(run.stderr)")
            let prefix = "nsebox broker: after host scripts: of those scripts, from the bytecode cache: "
            let line = try #require(run.stderr.split(separator: "\n").first { $0.hasPrefix(prefix) }, "\(run.stderr)")
            let numbers = line.dropFirst(prefix.count).components(separatedBy: "; compiled into it: ").compactMap { Int($0) }
            try #require(numbers.count == 2, "\(line)")
            return (numbers[0], numbers[1], scriptLines(run.stdout))
        }
        let nmap = scriptLines(try runNmap(args).stdout)
        let first = try scan()
        #expect(first.fromCache == 0 && first.stored == 2)
        let second = try scan()
        #expect(second.fromCache == 2 && second.stored == 0)
        let build = try #require(try FileManager.default.contentsOfDirectory(atPath: cache).first)
        for file in try FileManager.default.contentsOfDirectory(atPath: cache + "/" + build) where !file.hasPrefix(".") {
            try Data([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00] + Array("not bytecode at all".utf8))
                .write(to: URL(fileURLWithPath: cache + "/" + build + "/" + file))
        }
        let third = try scan()
        #expect(third.fromCache == 0 && third.stored == 2)
        let fourth = try scan()
        #expect(fourth.fromCache == 2 && fourth.stored == 0)
        for run in [first, second, third, fourth] { #expect(run.lines == nmap, "nmap:\n\(nmap)\nnsebox:\n\(run.lines)") }
    }

    /// The bytecode keeps its debug information: an error names the script's file
    /// and line as nmap's does. banner.nse calls gsub on its "ports" argument
    /// when it loads; a table there fails on line 37 of nmap's copy.
    @Test func anErrorInCompiledCodeNamesTheFileAndLineNmapNames() throws {
        let args = ["--script", "banner", "--script-args", "banner.ports={1,2}", "-p", "9", "127.0.0.1"]
        let nmap = try runNmap(args)
        let ours = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1"])
        // "/usr/bin/../share/nmap/scripts/banner.nse:37: attempt to ..." from nmap:
        // the same from the file's name on.
        func failure(_ text: String) -> Substring? {
            text.split(separator: "\n").first { $0.contains("banner.nse:") && $0.contains("attempt to") }
                .map { $0[$0.range(of: "/scripts/banner.nse:")!.lowerBound...] }
        }
        let expected = try #require(failure(nmap.stdout + nmap.stderr), "nmap:\n\(nmap.stdout)\(nmap.stderr)")
        #expect(failure(ours.stdout + ours.stderr) == expected, "nsebox:\n\(ours.stdout)\(ours.stderr)")
        #expect(counts(ours.stderr).map { $0.compiled == 1 && $0.jobs == 1 } == true, "\(ours.stderr)")
    }

    /// A script outside nmap's install, by its own path or by one that passes
    /// through nmap's scripts directory with "..", is never parsed by the zygote:
    /// its instances compile it, and it runs as before.
    @Test func aScriptFromElsewhereIsNotCompiledByTheZygote() throws {
        let nginx = try NginxService(title: "elsewhere", port: .httpLikely)
        let scratch = try scratchDirectory("own-script")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let script = scratch.appendingPathComponent("own-answer.nse").path
        try """
            description = "answers with the port it ran on"
            categories = {"safe"}
            portrule = function(host, port) return port.number == \(nginx.port) end
            action = function(host, port) return "own script on " .. port.number end
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let depth = "/usr/share/nmap/scripts".split(separator: "/").count
        let detour = "/usr/share/nmap/scripts/" + String(repeating: "../", count: depth) + script.dropFirst()
        for path in [script, detour] {
            let run = try runNsebox(["--script", path, "-p", "\(nginx.port)", "127.0.0.1"],
                                    environment: ["NSEBOX_BROKER_STATS": "1"])
            #expect(run.exitCode == 0, "\(run.stderr)")
            #expect(run.stdout.contains("|_own-answer: own script on \(nginx.port)"), "\(path):\n\(run.stdout)")
            #expect(counts(run.stderr).map { $0.compiled == 0 && $0.jobs == 0 } == true, "\(path):\n\(run.stderr)")
        }
    }
}
