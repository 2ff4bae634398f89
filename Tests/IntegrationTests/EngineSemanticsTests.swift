import Foundation
import Glibc
import Testing

/// Listening TCP sockets on 127.0.0.1 that nobody accepts on: the connect scan
/// sees them open (the kernel completes the handshake from the backlog).
struct ListenError: Error { var errno: Int32 }

final class ListeningPorts {
    private(set) var fds: [Int32] = []
    private(set) var ports: [Int] = []

    init(count: Int) throws {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, len) == 0 && listen(fd, 128) == 0 && getsockname(fd, $0, &len) == 0
                }
            }
            guard fd >= 0, ok else { throw ListenError(errno: errno) }
            fds.append(fd)
            ports.append(Int(UInt16(bigEndian: addr.sin_port)))
        }
    }

    deinit { for fd in fds { close(fd) } }
}

/// The whole report, pre-scan to post-scan, without the first and last lines
/// (which name the program) and with the latency value dropped.
func fullReport(_ text: String) -> [String] {
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(where: { $0.hasPrefix("Starting ") }) else { return lines }
    lines = Array(lines[(start + 1)...])
    if let end = lines.firstIndex(where: { $0.hasPrefix("Nmap done") || $0.hasPrefix("nsebox done") }) {
        lines = Array(lines[..<end])
    }
    return lines.map { $0.hasPrefix("Host is up (") ? "Host is up." : $0 }
}

/// Script output lines grouped under the heading or port line they follow, each
/// group sorted by script: nmap does not fix the order of scripts within a group.
/// A script's block runs from its first `|` line to its `|_` line.
func groupedReport(_ lines: [String]) -> [String] {
    var out: [String] = []
    var blocks: [[String]] = []
    var current: [String] = []
    func flush() { out += blocks.sorted { $0.joined(separator: "\n") < $1.joined(separator: "\n") }.flatMap { $0 }; blocks = [] }
    for line in lines {
        if line.hasPrefix("|") {
            current.append(line)
            if line.hasPrefix("|_") { blocks.append(current); current = [] }
        } else {
            if !current.isEmpty { blocks.append(current); current = [] }
            flush()
            out.append(line)
        }
    }
    if !current.isEmpty { blocks.append(current) }
    flush()
    return out
}

@Suite("Engine semantics against nmap")
struct EngineSemanticsTests {
    /// Pre-scan, host and post-scan phases; script arguments; registries written by
    /// twelve concurrent instances across a yield point; runlevels from
    /// dependencies; strict globals; mutexes shared by every instance, named by a
    /// string or keyed by a table in host.registry.
    @Test func phasesRegistriesRunlevelsAndMutexesMatchNmap() throws {
        let open = try ListeningPorts(count: 12)
        let args = ["--script", testScripts("engine"), "--script-args", "pre-args.word=hello,flag,list={x,y}",
                    "-p", open.ports.map(String.init).joined(separator: ","), "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = groupedReport(fullReport(nmap.stdout))
        let actual = groupedReport(fullReport(ours.stdout))
        #expect(actual.contains("|_reg-reader: hits=12 after_sleep=12"), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual.contains("|_chain-c: order=abc"), "\(ours.stdout)")
        #expect(actual.contains("|_mutex-report: max inside at once=1"), "\(ours.stdout)")
        #expect(actual.contains("|_mutex-registry-report: table mutex max inside=1"), "\(ours.stdout)")
        #expect(actual.contains("Pre-scan script results:") && actual.contains("Post-scan script results:"))
        #expect(actual == expected, "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// Each host's two scripts count into the global registry and their host's in
    /// one segment, in opposite orders, while scripts on five other hosts do the
    /// same: the registry's scopes are locked one by one, and none of these may
    /// wait for ever or lose a count.
    @Test func registryScopesTakenInEitherOrderLoseNothingAndMatchNmap() throws {
        let args = ["--script", testScripts("registry"), "-p", "1", "127.0.0.1-6"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args, timeout: 60)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        #expect(ours.stdout.components(separatedBy: "\n").filter { $0 == "|_reg-host-counts: host_first=5 global_first=5" }.count == 6,
                "\(ours.stdout)")
        #expect(ours.stdout.contains("|_reg-global-counts: host_first_total=30 global_first_total=30"), "\(ours.stdout)")
        #expect(groupedReport(fullReport(ours.stdout)) == groupedReport(fullReport(nmap.stdout)),
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
    }

    /// host.times comes from the port scan's round trips as nmap computes it: on
    /// loopback, one answer gives nmap's floor of 100 ms and its first rttvar of
    /// 5 ms, so stdnse.get_timeout gives 1,000 ms, not the 2,000 ms of nmap's
    /// initial estimate. A closed port's refusal is an answer too.
    @Test func hostTimesAreNmapsRoundTripEstimate() throws {
        let open = try ListeningPorts(count: 1)
        for ports in ["\(open.ports[0])", "1"] {
            let args = ["--script", testScripts("times"), "-p", ports, "127.0.0.1"]
            let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
            let ours = try runNsebox(args)
            let line = { (report: String) in report.split(separator: "\n").filter { $0.contains("host-times:") } }
            #expect(line(ours.stdout) == ["|_host-times: timeout=0.1 rttvar=0.005 answered=true get_timeout=1000"],
                    "\(ours.stdout)\n\(ours.stderr)")
            #expect(line(ours.stdout) == line(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
        }
    }

    /// A mutex keyed by a registry table (shortport.ssl's pattern): the lock comes
    /// with that table's scope when the registry is free, so the read under the
    /// lock asks the broker for nothing more. One child at a time, so it is free.
    @Test func aMutexKeyedByARegistryTableBringsItsScopeWithTheLock() throws {
        let open = try ListeningPorts(count: 2)
        let scripts = ["mutex-registry", "mutex-registry-report"].map { testScripts("engine") + $0 + ".nse" }
        let ours = try runNsebox(["--max-children", "1", "--script", scripts.joined(separator: ","),
                                  "-p", open.ports.map(String.init).joined(separator: ","), "127.0.0.1"],
                                 environment: ["NSEBOX_BROKER_STATS": "1"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        #expect(ours.stdout.contains("|_mutex-registry-report: table mutex max inside=1"), "\(ours.stdout)")
        // Per instance: the table made before the lock, and the write after the
        // sleep (a yield gave the scope back); the report's read. Without the
        // lend, the read under the lock was one more each.
        #expect(requestCount(ours.stderr, "registryAcquire") == 2 * 2 + 1, "\(ours.stderr)")
        #expect(requestCount(ours.stderr, "mutexLock") == 2, "\(ours.stderr)")
    }

    @Test func dependencyCycleIsAnErrorBeforeAnythingRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-cycle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (me, other) in [("cyc-a", "cyc-b"), ("cyc-b", "cyc-a")] {
            let text = """
            description = "cycle"
            categories = {"safe"}
            dependencies = {"\(other)"}
            hostrule = function() return true end
            action = function() return "ran" end
            """
            try text.write(to: dir.appendingPathComponent("\(me).nse"), atomically: true, encoding: .utf8)
        }
        let ours = try runNsebox(["--script", dir.path + "/", "-p", "1", "127.0.0.1"])
        #expect(ours.exitCode == 1)
        #expect(ours.stderr.contains("circular dependency in chain `cyc-a->cyc-b->cyc-a`"), "\(ours.stderr)")
        #expect(!ours.stdout.contains("ran"))
    }

    @Test func scriptWithASyntaxErrorIsReportedWithFileAndLineAndTheOthersRun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-syntax-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let broken = dir.appendingPathComponent("broken.nse")
        try "description = \"broken\"\ncategories = {\"safe\"}\naction = function( return end\n"
            .write(to: broken, atomically: true, encoding: .utf8)
        let ours = try runNsebox(["--script", "\(broken.path),\(testScripts("probe"))sandbox-identity.nse", "-p", "1", "127.0.0.1"])
        #expect(ours.exitCode == 0)
        #expect(ours.stderr.contains("Failed to load \(broken.path)"), "\(ours.stderr)")
        #expect(ours.stderr.contains("broken.nse:3:"), "\(ours.stderr)")
        #expect(ours.stdout.contains("|_sandbox-identity: getenv(PATH)=nil"), "\(ours.stdout)")
    }

    @Test func scriptTimeoutEndsAnInstanceWithoutOutput() throws {
        let started = Date()
        let ours = try runNsebox(["--script", testScripts("probe") + "sleepy.nse", "--script-timeout", "500ms",
                                  "-d", "-p", "1", "127.0.0.1"])
        #expect(ours.exitCode == 0)
        #expect(ours.stdout.contains("NSE: sleepy against 127.0.0.1 timed out"), "\(ours.stdout)")
        #expect(!ours.stdout.contains("|_sleepy: slept"))
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test func progressLineGoesToStderrOnly() throws {
        let ours = try runNsebox(["--script", testScripts("probe") + "sleepy.nse", "--stats-every", "500ms",
                                  "-p", "1", "127.0.0.1"])
        #expect(ours.stderr.contains("NSE progress: 0 of 1 script instances done"), "\(ours.stderr)")
        #expect(!ours.stdout.contains("progress"))
        #expect(ours.stdout.contains("|_sleepy: slept"))
    }
}

/// The last number of the broker's stats line that starts with `prefix`.
/// How many requests of one kind instances made, from NSEBOX_BROKER_STATS's
/// "requests from instances: connect 12, send 12, ..." after the host phase.
func requestCount(_ stderr: String, _ op: String) -> Int? {
    guard let line = stderr.components(separatedBy: "\n")
        .first(where: { $0.hasPrefix("nsebox broker: after host scripts: requests from instances: ") }) else { return nil }
    for item in line.components(separatedBy: ": ").last!.components(separatedBy: ", ") {
        let parts = item.split(separator: " ")
        if parts.count == 2, parts[0] == op { return Int(parts[1]) }
    }
    return 0
}

func brokerStat(_ stderr: String, _ prefix: String) -> Int? {
    stderr.components(separatedBy: "\n").first { $0.hasPrefix("nsebox broker: " + prefix) }
        .flatMap { Int($0.split(separator: " ").last ?? "") }
}

/// nselib loaded once for the scan: by the zygote, or (without one) compiled by
/// the broker's compile job for the instances after it. Either way the
/// instances give nmap's results.
@Suite("nselib loaded once")
struct CompiledModulesTests {
    @Test func theZygoteHoldsTheModulesAndInstancesAskForNone() throws {
        let nginx = try NginxService(title: "loaded once", port: .httpLikely)
        let args = ["--script", "http-title,http-headers,http-methods", "-p", "\(nginx.port)", "127.0.0.1"]
        let nmap = try runNmap(args)
        let ours = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1"])
        #expect(ours.exitCode == 0, "\(ours)")
        #expect((brokerStat(ours.stderr, "after host scripts: nselib modules in the zygote: ") ?? 0) > 20, "\(ours.stderr)")
        #expect(brokerStat(ours.stderr, "after host scripts: nselib loads by instances: ") == 0, "\(ours.stderr)")
        for id in ["http-title", "http-headers", "http-methods"] {
            let line = { (report: String) in report.split(separator: "\n").filter { $0.contains("\(id):") && !$0.contains("Date:") } }
            #expect(line(ours.stdout) == line(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
        }
        #expect(ours.stdout.contains("|_http-title: loaded once"), "\(ours.stdout)")
    }

    /// A module from --datadir (whoever wrote it controls it) never runs in the
    /// zygote, even where it stands in for one of nmap's: the instances load it
    /// themselves, confined by the policy alone, and use it.
    @Test func theZygoteLoadsNoModuleFromADataDirectory() throws {
        let dir = try scratchDirectory("datadir")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("nselib"), withIntermediateDirectories: true)
        try "return {marker = 'from the data directory'}\n"
            .write(to: dir.appendingPathComponent("nselib/shortport.lua"), atomically: true, encoding: .utf8)
        let script = dir.appendingPathComponent("uses-shortport.nse")
        try """
            categories = {"safe"}
            hostrule = function() return true end
            action = function() return require("shortport").marker end
            """.write(to: script, atomically: true, encoding: .utf8)
        let ours = try runNsebox(["--datadir", dir.path, "--script", script.path, "-p", "1", "127.0.0.1", "127.0.0.2"],
                                 environment: ["NSEBOX_BROKER_STATS": "1"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        #expect(ours.stdout.components(separatedBy: "\n").filter { $0 == "|_uses-shortport: from the data directory" }.count == 2,
                "\(ours.stdout)")
        #expect(ours.stderr.contains("nsebox broker: zygote ready"), "\(ours.stderr)")
        // Each of the two instances asked the broker for it (the describe job too).
        #expect((brokerStat(ours.stderr, "after host scripts: nselib loads by instances: ") ?? 0) >= 2, "\(ours.stderr)")
    }

    @Test func withoutAZygoteLaterInstancesLoadTheBrokersBytecodeAndMatchNmap() throws {
        let nginx = try NginxService(title: "compiled once", port: .httpLikely)
        let args = ["--script", "http-title,http-headers,http-methods", "-p", "\(nginx.port)", "127.0.0.1"]
        let nmap = try runNmap(args)
        // One child at a time: the compile job runs after the first instance.
        let ours = try runNsebox(["--max-children", "1"] + args, environment: ["NSEBOX_BROKER_STATS": "1", "NSEBOX_ZYGOTE": "0"])
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(brokerStat(ours.stderr, "after host scripts: nselib modules in the zygote: ") == 0, "\(ours.stderr)")
        let loads = brokerStat(ours.stderr, "after host scripts: nselib loads from bytecode: ") ?? 0
        #expect(loads > 0, "\(ours.stderr)")
        for id in ["http-title", "http-methods"] {
            let line = { (report: String) in report.split(separator: "\n").filter { $0.contains("\(id):") } }
            #expect(line(ours.stdout) == line(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
        }
        #expect(ours.stdout.contains("|_http-title: compiled once"), "\(ours.stdout)")
    }
}
