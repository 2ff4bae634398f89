import Foundation
import Glibc
import Testing

/// Hostile scripts, run beside a benign one: each gets a clear error, nothing it
/// tried happens, and the rest of the scan completes.
@Suite("Sandboxed scripts")
struct SandboxIntegrationTests {
    @Test func hostileScriptsFailClearlyWhileTheScanCompletes() throws {
        let marker = "/tmp/nsebox-pwned-exec"
        let written = "/tmp/nsebox-pwned-write"
        unlink(marker)
        unlink(written)
        let nginx = try NginxService(title: "benign neighbour", port: .httpLikely)
        let ours = try runNsebox(["--script", "http-title,\(testScripts("hostile"))", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let report = reportBody(ours.stdout)
        #expect(report.contains("|_http-title: benign neighbour"), "\(ours.stdout)")
        for script in ["sandbox-exec", "sandbox-popen", "sandbox-loadlib", "sandbox-write", "sandbox-binary", "sandbox-frame"] {
            #expect(report.contains("|_\(script): ERROR: Script execution failed (use -d to debug)"), "\(script)\n\(ours.stdout)")
        }
        let expectedErrors = [
            "sandbox-exec against 127.0.0.1: ", "nsebox sandbox: os.execute is not allowed",
            "nsebox sandbox: io.popen is not allowed",
            "nsebox sandbox: package.loadlib is not allowed",
            "nsebox sandbox: io.open(/tmp/nsebox-pwned-write, \"w\"): writing files is not allowed",
            "nsebox sandbox: binary chunks are not allowed",
            "sandbox-frame against 127.0.0.1: protocol violation: the child sent run (message 3), which only the broker may send",
        ]
        for text in expectedErrors {
            #expect(ours.stderr.contains(text), "missing \(text.debugDescription) in\n\(ours.stderr)")
        }
        // The forged frame ended the child before its next message.
        #expect(!ours.stderr.contains("the broker did not end me"))
        #expect(!ours.stdout.contains("survived"))
        #expect(access(marker, F_OK) != 0, "os.execute created \(marker)")
        #expect(access(written, F_OK) != 0, "io.open created \(written)")
    }

    /// Instances are forked from one zygote: what one changes in the Lua state it
    /// started with (a metatable, a module, package.loaded, a global, a table of
    /// nselib's data in the zygote's cold heap) stays in its own process.
    /// check.nse runs a runlevel after taint.nse and looks (under nmap, where all
    /// scripts share one Lua state, it reports all five).
    @Test func whatAnInstanceChangesNeverReachesTheInstancesForkedAfterIt() throws {
        let ours = try runNsebox(["--script", testScripts("zygote"), "-p", "1", "127.0.0.1"],
                                 environment: ["NSEBOX_BROKER_STATS": "1"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        #expect(ours.stderr.contains("nsebox broker: zygote ready"), "\(ours.stderr)")
        #expect(ours.stdout.contains("|_taint: changed"), "\(ours.stdout)")
        #expect(ours.stdout.contains("|_check: clean"), "\(ours.stdout)")
    }

    /// nselib's bulk data (data.idnaMappings, which idna, url and http require)
    /// lives in the zygote's cold heap, which no fork copies. The zygote and every
    /// instance map it private (rw-p: what one writes is its own copy; taint.nse
    /// and check.nse above write it), and a script reads it as under nmap: the
    /// IDNA form of a host name with "ü" and a capital letter, which takes
    /// both the table's mappings.
    @Test func nselibsDataInTheColdHeapIsPrivateAndReadsAsUnderNmap() throws {
        let script = testScripts("coldheap") + "idna-sleepy.nse"
        let nmap = try runNmap(["--script", script, "-p", "1", "127.0.0.1"])
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-cold-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path
        let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                      arguments: ["--script", script, "-p", "1", "127.0.0.1"],
                                      stdoutPath: out, stderrPath: out)
        defer { broker.terminate() }
        // The cold heap's line in /proc/PID/maps of the zygote and of the
        // instance, once the instance has confined itself.
        func coldHeap(_ pid: pid_t) -> String? {
            (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8))?
                .split(separator: "\n").first { $0.contains("nsebox-cold-heap") }.map(String.init)
        }
        var seen: (zygote: String, instance: String)?
        let deadline = Date().addingTimeInterval(10)
        while seen == nil && Date() < deadline {
            for zygote in childPids(of: broker.pid) where commandLine(zygote).contains("--zygote") {
                for pid in childPids(of: zygote) where processName(pid).hasPrefix("idna-sleepy#") {
                    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                          status.contains("Seccomp:\t2"), let mine = coldHeap(pid), let its = coldHeap(zygote) else { continue }
                    seen = (its, mine)
                }
            }
            if seen == nil { usleep(10_000) }
        }
        let maps = try #require(seen, "no instance with the cold heap mapped appeared")
        for line in [maps.zygote, maps.instance] {
            #expect(line.split(separator: " ").dropFirst().first == "rw-p", "\(line)")
        }
        #expect(broker.wait(timeout: 20))
        let report = try String(contentsOfFile: out, encoding: .utf8)
        #expect(report.contains("|_idna-sleepy: xn--bcher-kva.example"), "\(report)")
        let lines = { (text: String) in text.split(separator: "\n").filter { $0.hasPrefix("|") } }
        #expect(lines(report) == lines(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(report)")
    }

    /// Instances forked ahead of their jobs (the pool) run them as any other: the
    /// same report as with the pool off (NSEBOX_POOL=0), and the broker counts
    /// the starts it took from the pool. (scriptProcessIsConfinedWhileItRuns looks
    /// at one such instance from outside: named after its job, two filters.)
    @Test func instancesForkedAheadOfTheirJobsRunThemAsAnyOther() throws {
        let args = ["--script", testScripts("zygote"), "-p", "1", "127.0.0.1"]
        let pooled = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1"])
        let unpooled = try runNsebox(args, environment: ["NSEBOX_BROKER_STATS": "1", "NSEBOX_POOL": "0"])
        #expect(pooled.exitCode == 0 && unpooled.exitCode == 0, "\(pooled.stderr)\n\(unpooled.stderr)")
        func starts(_ stderr: String) -> Int? {
            stderr.split(separator: "\n").last { $0.contains("instances started from the pool: ") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
        }
        #expect((starts(pooled.stderr) ?? 0) >= 2, "\(pooled.stderr)")
        #expect(starts(unpooled.stderr) == 0, "\(unpooled.stderr)")
        let results = { (out: String) in out.split(separator: "\n").filter { $0.hasPrefix("|") } }
        #expect(results(pooled.stdout) == results(unpooled.stdout), "\(pooled.stdout)\n\(unpooled.stdout)")
        #expect(pooled.stdout.contains("|_check: clean"), "\(pooled.stdout)")
    }

    /// The next queued job's instance is readied while another runs (staged): it
    /// is named after its job and has stacked the policy's filter on the zygote's
    /// before its job starts, and it starts nothing until a slot frees (one at a
    /// time here: two hosts, one after the other, each sleeping 3 s).
    @Test func theNextJobsInstanceWaitsConfinedUntilItsJobStarts() throws {
        let directory = try scratchDirectory("staged")
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path
        let audit = directory.appendingPathComponent("audit.jsonl").path
        let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                      arguments: ["--max-children", "1", "--audit-log", audit,
                                                  "--script", testScripts("probe") + "sleepy.nse",
                                                  "-p", "1", "127.0.0.1", "127.0.0.2"],
                                      stdoutPath: out, stderrPath: out)
        defer { broker.terminate() }
        // The describe instance ran first: the first host's is the lower number.
        var both: (running: String, staged: String)?
        let deadline = Date().addingTimeInterval(10)
        while both == nil && Date() < deadline {
            let instances = childPids(of: broker.pid).flatMap { childPids(of: $0) }
                .map { (number: Int(processName($0).split(separator: "#").last ?? "") ?? -1, pid: $0) }
                .filter { processName($0.pid).hasPrefix("sleepy#") }.sorted { $0.number < $1.number }
            if instances.count == 2,
               let running = try? String(contentsOfFile: "/proc/\(instances[0].pid)/status", encoding: .utf8),
               let staged = try? String(contentsOfFile: "/proc/\(instances[1].pid)/status", encoding: .utf8),
               staged.contains("Seccomp_filters:\t2") {
                both = (running, staged)
            } else {
                usleep(10_000)
            }
        }
        let seen = try #require(both, "no staged instance beside the running one")
        #expect(seen.staged.contains("Seccomp:\t2") && seen.staged.contains("NoNewPrivs:\t1"), "\(seen.staged)")
        #expect(broker.wait(timeout: 30))
        let report = try String(contentsOfFile: out, encoding: .utf8)
        #expect(report.components(separatedBy: "\n").filter { $0 == "|_sleepy: slept" }.count == 2, "\(report)")
        // The staged job started when the first ended, not beside it.
        let events = try String(contentsOfFile: audit, encoding: .utf8).split(separator: "\n").compactMap { line -> String? in
            guard line.contains("\"target\":\"127.0.0."), let label = line.firstMatch(of: /"instance":"(sleepy#\d+)"/)?.1,
                  let event = line.firstMatch(of: /"event":"(start|exit)"/)?.1 else { return nil }
            return "\(event) \(label)"
        }
        let labels = Array(Set(events.map { $0.split(separator: " ")[1] })).sorted()
        #expect(labels.count == 2 && events == ["start \(labels[0])", "exit \(labels[0])", "start \(labels[1])", "exit \(labels[1])"],
                "\(events)")
    }

    /// The zygote killed in the middle of a scan: the instances it had forked end
    /// as errors (they die with it, pid 1 of their namespace), the broker spawns
    /// the rest itself, and the scan completes with their results.
    @Test func aZygoteThatDiesLeavesTheBrokerSpawningTheRest() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-zygote-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path, err = directory.appendingPathComponent("err").path
        let hosts = (1...6).map { "127.0.0.\($0)" }
        let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                      arguments: ["--max-children", "2", "--script", testScripts("probe") + "sleepy.nse",
                                                  "-p", "1"] + hosts,
                                      environment: ["NSEBOX_BROKER_STATS": "1"], stdoutPath: out, stderrPath: err)
        defer { broker.terminate() }
        // The zygote once two instances sleep in it.
        var zygote: pid_t?
        let deadline = Date().addingTimeInterval(20)
        while zygote == nil && Date() < deadline {
            for pid in childPids(of: broker.pid) where commandLine(pid).contains("--zygote")
                && childPids(of: pid).filter({ processName($0).hasPrefix("sleepy#") }).count >= 2 {
                zygote = pid
            }
            if zygote == nil { usleep(20_000) }
        }
        // Two run; the next jobs' instances may be staged too (named and confined,
        // their jobs not started): they die with the zygote, and their jobs go
        // back to the queue, so only the two that ran fail.
        let killed = try #require(zygote, "no zygote with two sleeping instances appeared")
        kill(killed, SIGKILL)
        #expect(broker.wait(timeout: 60))
        broker.finish()
        #expect(broker.exitCode == 0)
        let report = try String(contentsOfFile: out, encoding: .utf8)
        let stderr = try String(contentsOfFile: err, encoding: .utf8)
        let slept = report.components(separatedBy: "\n").filter { $0 == "|_sleepy: slept" }.count
        let failed = report.components(separatedBy: "\n").filter { $0 == "|_sleepy: ERROR: Script execution failed (use -d to debug)" }.count
        #expect(failed == 2 && slept == 4, "\(report)\n\(stderr)")
        #expect(stderr.contains("nsebox broker: zygote not used: the zygote ended"), "\(stderr)")
    }

    /// The zygote maps its code on 2 MiB pages before it confines itself, so an
    /// instance shares it through a few page-directory entries (few page faults to
    /// run code, less to tear down at exit). Seen from outside in a sleeping
    /// instance's smaps: the executable's code mapped by page-directory entries
    /// (FilePmdMapped: the page cache's 2 MiB folios the broker readied), or, where
    /// the cache could not hold them, an executable anonymous copy. With
    /// NSEBOX_HUGE_TEXT=0 there is neither the copy nor the broker's readying of
    /// the cache: the code stays the exec's mapping of the file (which the kernel
    /// maps whole only if an earlier scan left 2 MiB folios cached), and the scan's
    /// result is the same either way.
    @Test(.enabled(if: childCodeHoldsAHugePage(), "the debug build's nsebox-child keeps its code in shared libraries"))
    func instancesRunTheZygotesCodeFromHugePages() throws {
        let thp = (try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8)) ?? ""
        try #require(thp.contains("[always]") || thp.contains("[madvise]"), "transparent huge pages are off here: \(thp)")
        for huge in [true, false] {
            let directory = try scratchDirectory("hugetext")
            defer { try? FileManager.default.removeItem(at: directory) }
            let out = directory.appendingPathComponent("out").path
            let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                          arguments: ["--script", testScripts("probe") + "sleepy.nse", "-p", "1", "127.0.0.1"],
                                          environment: ProcessInfo.processInfo.environment.merging(["NSEBOX_HUGE_TEXT": huge ? "1" : "0"]) { $1 },
                                          stdoutPath: out, stderrPath: out)
            defer { broker.terminate() }
            var hugeCode: (copied: Int, fromFile: Int)?
            let deadline = Date().addingTimeInterval(10)
            while hugeCode == nil && Date() < deadline {
                for pid in childPids(of: broker.pid).flatMap({ childPids(of: $0) }) where processName(pid).hasPrefix("sleepy#") {
                    guard let smaps = try? String(contentsOfFile: "/proc/\(pid)/smaps", encoding: .utf8) else { continue }
                    hugeCode = codeOnHugePages(smaps)
                }
                if hugeCode == nil { usleep(10_000) }
            }
            let kib = try #require(hugeCode, "no sleeping instance to look at")
            if huge {
                #expect(kib.copied + kib.fromFile >= 2048, "\(kib) KiB of code on huge pages")
            } else {
                #expect(kib.copied == 0, "\(kib.copied) KiB of code copied")
            }
            #expect(broker.wait(timeout: 20))
            #expect(try String(contentsOfFile: out, encoding: .utf8).contains("|_sleepy: slept"))
        }
    }

    /// While a script sleeps, its process is looked at from outside: it holds only
    /// its RPC socket, has seccomp on, no new privileges, no capabilities, and when
    /// the broker is root it runs as nobody.
    @Test func scriptProcessIsConfinedWhileItRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-confined-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("out").path
        let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                      arguments: ["--script", testScripts("probe") + "sleepy.nse", "-p", "1", "127.0.0.1"],
                                      stdoutPath: out, stderrPath: out)
        defer { broker.terminate() }
        // Look at a script process once it has confined itself. It is forked by
        // the scan's zygote (the broker's child) and named after its instance;
        // a describe child may end between two reads: then look again.
        var seen: (pid: pid_t, status: String, fds: [String], environment: Data, namespaces: [String: String], root: [String]?,
                   scheduling: (policy: Int, nice: Int)?)?
        let deadline = Date().addingTimeInterval(10)
        while seen == nil && Date() < deadline {
            let instances = childPids(of: broker.pid).flatMap { childPids(of: $0) }
            for pid in instances.sorted(by: >) where processName(pid).hasPrefix("sleepy#") {
                guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                      status.contains("Seccomp:\t2"),
                      let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"),
                      let environment = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
                else { continue }
                var namespaces: [String: String] = [:]
                for ns in ["user", "mnt", "net", "ipc", "pid"] {
                    namespaces[ns] = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(ns)")
                }
                let root = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/root")
                seen = (pid, status, fds, environment, namespaces, root, scheduling(pid))
                break
            }
            if seen == nil { usleep(10_000) }
        }
        let child = try #require(seen, "no confined script process appeared")
        let status = child.status
        func field(_ name: String) -> String {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) } ?? ""
        }
        #expect(field("Seccomp") == "2", "\(status)")
        // The zygote's filter, and the policy's own stacked on it by the instance.
        #expect(field("Seccomp_filters") == "2", "\(status)")
        #expect(field("NoNewPrivs") == "1")
        #expect(field("CapEff") == "0000000000000000")
        #expect(field("CapPrm") == "0000000000000000")
        if geteuid() == 0 {
            #expect(field("Uid").split(separator: "\t").allSatisfy { $0 == "65534" }, "\(field("Uid"))")
            #expect(field("Gid").split(separator: "\t").allSatisfy { $0 == "65534" }, "\(field("Gid"))")
        }
        #expect(child.fds == ["3"], "open descriptors: \(child.fds)")
        // User, mount, network, IPC and PID namespaces that are not the broker's
        // (the zygote's, shared with the other instances, which its filter keeps
        // it from touching), and an empty root (this kernel allows them; a root
        // broker makes the PID one, whose pid 1 is the zygote).
        for (ns, link) in child.namespaces {
            let ours = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(ns)")
            if ns != "pid" || geteuid() == 0 { #expect(link != ours, "\(ns) namespace shared: \(link)") }
        }
        #expect(child.root == [], "the child's root holds \(child.root ?? ["(unreadable)"])")
        if geteuid() == 0 {
            let nspid = field("NSpid").split(separator: "\t")
            #expect(nspid.count == 2 && nspid.last != "1" && nspid.first != nspid.last, "\(field("NSpid"))")
        }
        #expect(child.environment.isEmpty, "environment is not empty")
        // It yields to the broker that serves it, as `ps -o cls,ni` shows:
        // SCHED_BATCH, 5 nice levels below the broker (which keeps its own).
        let brokerScheduling = try #require(scheduling(broker.pid))
        #expect(brokerScheduling.policy == Int(SCHED_OTHER))
        #expect(child.scheduling?.policy == 3 /* SCHED_BATCH */, "\(String(describing: child.scheduling))")
        #expect(child.scheduling?.nice == min(19, brokerScheduling.nice + 5), "\(String(describing: child.scheduling))")
        #expect(broker.wait(timeout: 20))
        let report = try String(contentsOfFile: out, encoding: .utf8)
        #expect(report.contains("|_sleepy: slept"), "\(report)")
    }
}

/// A process's scheduling policy and nice value (fields 41 and 19 of
/// /proc/PID/stat, counted after the parenthesized name).
func scheduling(_ pid: pid_t) -> (policy: Int, nice: Int)? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 38, let nice = Int(fields[16]), let policy = Int(fields[38]) else { return nil }
    return (policy, nice)
}

/// Whether the nsebox-child beside nsebox has an executable segment that spans a
/// whole aligned 2 MiB page (the release build, one static executable, does).
func childCodeHoldsAHugePage() -> Bool {
    guard let nsebox = try? nseboxExecutableURL(),
          let elf = FileManager.default.contents(atPath: nsebox.deletingLastPathComponent().appendingPathComponent("nsebox-child").path),
          elf.count > 64, elf.prefix(4) == Data([0x7F, 0x45, 0x4C, 0x46]) else { return false }
    func word<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        elf[offset..<(offset + MemoryLayout<T>.size)].reversed().reduce(0) { $0 << 8 | T($1) }
    }
    let phoff = Int(word(32, UInt64.self)), size = Int(word(54, UInt16.self)), count = Int(word(56, UInt16.self))
    for i in 0..<count where phoff + (i + 1) * size <= elf.count {
        let h = phoff + i * size
        guard word(h, UInt32.self) == 1, word(h + 4, UInt32.self) & 1 != 0 else { continue } // PT_LOAD, PF_X
        let start = word(h + 16, UInt64.self), end = start + word(h + 40, UInt64.self), huge: UInt64 = 2 << 20
        return (start + huge - 1) / huge * huge + huge <= end
    }
    return false
}

/// KiB of a process's code on 2 MiB pages (from /proc/PID/smaps): its executable
/// mappings that no file backs (the copy nse_hugetext makes, whose size is
/// counted: whether the kernel backed it with huge pages depends on its free
/// memory at that moment), and what page-directory entries map of its executable
/// file mappings (FilePmdMapped).
func codeOnHugePages(_ smaps: String) -> (copied: Int, fromFile: Int) {
    var copied = 0, fromFile = 0, executable = false, anonymous = false
    for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let range = fields.first, range.contains("-"), fields.count >= 5, range.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
            executable = fields[1].contains("x")
            anonymous = fields.count == 5
        } else if executable, anonymous, fields.first == "Size:", fields.count >= 2 {
            copied += Int(fields[1]) ?? 0
        } else if executable, !anonymous, fields.first == "FilePmdMapped:", fields.count >= 2 {
            fromFile += Int(fields[1]) ?? 0
        }
    }
    return (copied, fromFile)
}

/// Processes whose parent is `pid`.
func childPids(of pid: pid_t) -> [pid_t] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { Int32($0) }.filter { candidate in
        guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && Int32(fields[1]) == pid
    }
}

/// What ps shows as the process's name (/proc/PID/comm).
func processName(_ pid: pid_t) -> String {
    ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
}

func commandLine(_ pid: pid_t) -> String {
    guard let data = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return "" }
    return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
}
