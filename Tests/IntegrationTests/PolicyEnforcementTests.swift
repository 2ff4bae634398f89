import Foundation
import Testing

/// sandbox-policies/NAME.policy of the repository.
func repositoryPolicy(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("sandbox-policies/\(name).policy")
    return try String(contentsOf: url, encoding: .utf8)
}

/// The default policy's process sandbox with other broker rights: everything
/// from its `scripts` line on is replaced by `rights`.
func policyFile(named name: String, rights: String, in dir: URL) throws -> String {
    let text = try repositoryPolicy("default")
    guard let cut = text.range(of: "\nscripts ") else { throw ServiceError.setup("default.policy has no scripts line") }
    let path = dir.appendingPathComponent("\(name).policy").path
    try (String(text[..<cut.lowerBound]).replacingOccurrences(of: "name default", with: "name \(name)")
         + "\n" + rights + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Policy format 2: what the broker itself enforces for each script instance,
/// each limit shown by a hostile script of ours next to a benign script (nmap's
/// http-title) whose result must stay intact.
@Suite("Policy rights enforced by the broker")
struct PolicyEnforcementTests {
    @Test func defaultPolicyRefusesScriptsOutsideItsCategoriesBeforeScanning() throws {
        let ours = try runNsebox(["--script", "http-title,http-brute", "-p", "80", "127.0.0.1"])
        #expect(ours.exitCode == 1)
        #expect(ours.stderr.contains("the sandbox policy 'default' runs only scripts in the categories default, safe, "
                                     + "and refuses: http-brute (intrusive, brute)"), "\(ours.stderr)")
        #expect(ours.stderr.contains("--policy permissive"))
        #expect(!ours.stdout.contains("Nmap scan report"), "\(ours.stdout)")
    }

    @Test func policyCheckPrintsWhatAPolicyAllowsAndRejectsABadOne() throws {
        let good = try runNsebox(["policy", "check", "default"])
        #expect(good.exitCode == 0, "\(good.stderr)")
        #expect(good.stdout.contains("default.policy: valid"))
        #expect(good.stdout.contains("scripts that run: categories default, safe"), "\(good.stdout)")
        #expect(good.stdout.contains("  sockets open at once: 64"))
        #expect(good.stdout.contains("  when category broadcast: network targets+dns+broadcast"))
        #expect(good.stdout.contains("  allow read if arg0 == 3"))

        let dir = try scratchDirectory("policy")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = try policyFile(named: "bad", rights: "limit sockets plenty", in: dir)
        let check = try runNsebox(["policy", "check", bad])
        #expect(check.exitCode == 1)
        #expect(check.stderr.contains("bad.policy: line "), "\(check.stderr)")
        #expect(check.stderr.contains(": bad number 'plenty'"), "\(check.stderr)")
        // The same policy for a scan: the same error, and nothing runs.
        let scan = try runNsebox(["--policy", bad, "--script", "banner", "-p", "1", "127.0.0.1"])
        #expect(scan.exitCode == 1)
        #expect(scan.stderr.contains("bad number 'plenty'"), "\(scan.stderr)")
        #expect(!scan.stdout.contains("Nmap scan report"))
    }

    @Test func quotasStopTheScriptThatPassesThemAndNoOther() throws {
        let big = String(repeating: "0123456789abcdef", count: 64)  // 1 KiB
        let nginx = try NginxService(title: "benign neighbour", files: ["big.html": big], port: .httpLikely)
        let dir = try scratchDirectory("quota")
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = try policyFile(named: "tight", rights: """
            scripts safe
            limit wall 3s
            limit sockets 2
            limit sent 100
            limit received 600
            limit output 400
            limit registry 1K
            limit threads 4
            network targets
            read nmap-data
            when script http-title limit sent 64K
            when script http-title limit received 1M
            when script http-title limit output 64K
            """, in: dir)
        let started = Date()
        let ours = try runNsebox(["--policy", policy, "--script", testScripts("quota") + ",http-title",
                                  "-p", "\(nginx.port)", "127.0.0.1"], timeout: 60)
        let elapsed = Date().timeIntervalSince(started)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let report = reportBody(ours.stdout)
        func line(_ prefix: String) -> String? { report.first { $0.hasPrefix(prefix) } }
        // The benign script (its own limits, by `when script`) is untouched.
        #expect(report.contains("|_http-title: benign neighbour"), "\(ours.stdout)")
        // sockets: two connects at once, the third refused.
        #expect(line("|_sockets: ") == "|_sockets: opened 2 of 5; refused: nsebox: more than 2 open sockets", "\(ours.stdout)")
        // sent: 60 bytes pass, the next 60 would pass 100.
        #expect(line("|_sent: ") == "|_sent: first send: true; second send: nil nsebox policy: the limit of 100 bytes sent would be passed",
                "\(ours.stdout)")
        // received: the first answer (the whole 1 KiB page and its headers) uses up 600.
        #expect(line("|_received: ") == "|_received: answers: 1; then: nsebox policy: the limit of 600 bytes received is used up",
                "\(ours.stdout)")
        // threads: the action and three more.
        #expect(line("|_threads: ") == "|_threads: started 3; then: nsebox policy: more than 4 threads", "\(ours.stdout)")
        // output and wall time and the registry: the script's result is replaced.
        for name in ["output", "wall", "registry"] {
            #expect(line("|_\(name): ") == "|_\(name): ERROR: Script execution failed (use -d to debug)", "\(name): \(ours.stdout)")
        }
        #expect(!ours.stdout.contains("should not appear") && !ours.stdout.contains("report flood"))
        #expect(ours.stderr.contains("output past the policy's limit of 400 bytes is dropped"), "\(ours.stderr)")
        #expect(ours.stderr.contains("ran for the policy's wall-time limit of 3 s"), "\(ours.stderr)")
        #expect(ours.stderr.contains("registry write refused: more than the policy's 1024 bytes"), "\(ours.stderr)")
        #expect(ours.stdout.components(separatedBy: "flood line").count - 1 < 50, "the log flood is cut off")
        #expect(elapsed < 50, "the wall-time limit ended the sleeping script (took \(elapsed) s)")
    }

    @Test func readRightsDecideWhichFilesAScriptSees() throws {
        let dir = try scratchDirectory("read")
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("names.lst").path
        try "alice\n".write(toFile: list, atomically: true, encoding: .utf8)
        let script = dir.appendingPathComponent("reads.nse").path
        try """
            description = "Test script: reads a data file and a file named in its arguments."
            categories = {"safe"}
            prerule = function() return true end
            action = function()
              local function can(path) local f = io.open(path) if f then f:close() return "yes" end return "no" end
              return ("data: %s; named: %s"):format(can("nmap-services"), can(nmap.registry.args.list))
            end
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let args = ["--script", script, "--script-args", "list=\(list)", "127.0.0.1", "-p", "1"]
        let open = try runNsebox(args)
        #expect(reportBody(open.stdout).contains("|_reads: data: yes; named: yes") || open.stdout.contains("|_reads: data: yes; named: yes"),
                "\(open.stdout)\n\(open.stderr)")
        let narrow = try policyFile(named: "narrow", rights: "scripts all\nread nmap-data", in: dir)
        let closed = try runNsebox(["--policy", narrow] + args)
        #expect(closed.stdout.contains("|_reads: data: yes; named: no"), "\(closed.stdout)\n\(closed.stderr)")
        let none = try policyFile(named: "none", rights: "scripts all\nread none", in: dir)
        let nothing = try runNsebox(["--policy", none] + args)
        #expect(nothing.stdout.contains("|_reads: data: no; named: no"), "\(nothing.stdout)\n\(nothing.stderr)")
    }

    /// The shipped policies let a child wait for its replies in poll(2), and a
    /// child that runs alone poll for them a few microseconds with recvfrom(2)
    /// before it sleeps; under a policy that allows neither (a policy written
    /// before, say) every script must still run, the child reading without them,
    /// and a child of either must give the same report. One script alone on one
    /// port is the case that spins.
    @Test func aPolicyWithoutPollStillRunsScripts() throws {
        let nginx = try NginxService(title: "no poll here", port: .httpLikely)
        let dir = try scratchDirectory("nopoll")
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = try repositoryPolicy("default")
        #expect(text.contains("\nallow poll\n"))
        let path = dir.appendingPathComponent("nopoll.policy").path
        #expect(text.contains("\nallow recvfrom arg0 == RPC_FD\n"))
        try text.replacingOccurrences(of: "\nallow poll\n", with: "\n")
            .replacingOccurrences(of: "\nallow recvfrom arg0 == RPC_FD\n", with: "\n")
            .replacingOccurrences(of: "name default", with: "name nopoll")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let alone = try runNsebox(["--policy", path, "--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(alone.stdout.contains("|_http-title: no poll here"), "\(alone.stdout)\n\(alone.stderr)")
        let args = ["--script", "http-title,http-headers", "-p", "\(nginx.port)", "127.0.0.1"]
        let without = try runNsebox(["--policy", path] + args)
        let with = try runNsebox(args)
        #expect(without.exitCode == 0, "\(without.stderr)")
        #expect(without.stdout.contains("|_http-title: no poll here"), "\(without.stdout)\n\(without.stderr)")
        let results = { (out: String) in out.split(separator: "\n").filter { $0.hasPrefix("|") && !$0.contains("Date: ") } }
        #expect(results(without.stdout) == results(with.stdout), "\(without.stdout)\n\(with.stdout)")
        #expect(!without.stderr.contains("SIGSYS") && !without.stderr.contains("signal"), "\(without.stderr)")
    }
}
