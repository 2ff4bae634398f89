import Foundation
import Glibc
import Testing

/// A TCP listener and a UDP socket on 127.0.0.2 (a loopback address not under
/// scan) that record whether anything reached them.
final class Canary {
    let port: Int
    private let tcp: Int32, udp: Int32

    init() throws {
        func bound(_ type: Int32, port: Int) -> Int32? {
            let fd = socket(AF_INET, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return nil }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, "127.0.0.2", &a.sin_addr)
            let ok = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard ok == 0, type == Int32(SOCK_DGRAM.rawValue) || listen(fd, 16) == 0 else { close(fd); return nil }
            return fd
        }
        for _ in 0..<20 {
            let candidate = Int.random(in: 20000...60000)
            if let t = bound(Int32(SOCK_STREAM.rawValue), port: candidate) {
                if let u = bound(Int32(SOCK_DGRAM.rawValue), port: candidate) {
                    port = candidate; tcp = t; udp = u
                    return
                }
                close(t)
            }
        }
        throw ServiceError.setup("no free port on 127.0.0.2 for the canary")
    }

    /// True when a connection is waiting or a datagram arrived.
    var touched: Bool {
        let conn = accept(tcp, nil, nil)
        if conn >= 0 { close(conn); return true }
        var byte: UInt8 = 0
        return recv(udp, &byte, 1, 0) >= 0
    }

    deinit { close(tcp); close(udp) }
}

/// The hostile corpus (Tests/nse/attacks): each script tries one attack and
/// reports what it saw, all of them in one scan beside nmap's http-title. Each
/// attack must fail with its clear error, nothing it tried may happen (no file,
/// no traffic to the canary on 127.0.0.2, no process left), the benign result
/// must be intact, and the scan must end in bounded time.
@Suite("Hostile corpus")
struct HostileCorpusTests {
    /// Script -> the line its result must be (after "|_NAME: "), or nil when the
    /// broker or the kernel ends it (then its report line is the error line and
    /// `endedBecause` names the warning).
    static let observed: [String: String] = [
        "attack-string-dump": "false | nsebox sandbox: string.dump is not allowed",
        "attack-load-binary": "nil | nsebox sandbox: binary chunks are not allowed",
        "attack-dofile-passwd": "false | cannot open /etc/passwd: No such file or not readable by scripts",
        "attack-read-shadow": "nil | /etc/shadow: No such file or not readable by scripts | 2",
        "attack-read-proc": "true",
        "attack-read-traversal": "nil",
        "attack-require-traversal": "false",
        "attack-fetchfile-traversal": "nil",
        "attack-package-path": "false",
        "attack-getenv": "nil | nil | nil",
        "attack-loadfile-binary": "nil | nsebox sandbox: binary chunks are not allowed / false | nsebox sandbox: binary chunks are not allowed",
        "attack-os-exit": "false | nsebox sandbox: os.exit is not allowed",
        "attack-os-remove": "false | nsebox sandbox: os.remove is not allowed",
        "attack-os-rename": "false | nsebox sandbox: os.rename is not allowed",
        "attack-tmpfile": "false",
        "attack-io-output": "false",
        "attack-lfs-mkdir": "nil | nsebox sandbox: the file system is read-only",
        "attack-tcp-out-of-scope": "false | nsebox: 127.0.0.2 is not a host under scan",
        "attack-udp-out-of-scope": "false | nsebox: 127.0.0.2 is not a host under scan",
        "attack-connect-by-name": "false | nsebox: localhost is not a host under scan",
        "attack-connect-ipv6": "false | nsebox: ::1 is not a host under scan",
        "attack-connect-any": "false | nsebox: 0.0.0.0 is not a host under scan",
        "attack-bind-mismatch": "nil | bind: ::1 port 0 does not fit 127.0.0.1",
        "attack-memory": "false | not enough memory",
        "attack-stack": "false | stack overflow",
        "attack-parser-nesting": "nil | overflow",
        "attack-socket-flood": "true | nsebox: more than 64 open sockets",
        "attack-log-spoof": "printed",
        "attack-metatable": "pwned",
        // The child's own RPC primitive refuses an op it does not know; a forged
        // frame that gets past it is attack-forged-args (and sandbox-frame).
        "attack-forged-op": "false | nsebox: cannot send an unknown operation to the broker",
        "attack-pcap-usb": "false | can't open pcap reader on usbmon0: not a network interface",
        // As a normal user there is no raw socket to ask for (docs/raw.md).
        "attack-raw-out-of-scope": geteuid() == 0 ? "false | nsebox: 127.0.0.2 is not a host under scan"
            : "false | failed to open raw socket: Operation not permitted (errno 1)",
    ]

    /// Scripts the broker ends, and the warnings that may say why (the thread
    /// flood meets the in-flight limit, or on a loaded machine the wall time first).
    static let endedBecause: [String: [String]] = [
        "attack-cpu-loop": ["ran for the policy's wall-time limit of 5 s and was ended"],
        "attack-sleep-forever": ["ran for the policy's wall-time limit of 5 s and was ended"],
        "attack-thread-flood": ["more than 4096 requests awaiting a reply",
                                "ran for the policy's wall-time limit of 5 s and was ended"],
        "attack-forged-args": ["protocol violation: bad frame: arguments do not match the operation: connect"],
    ]

    @Test func everyAttackFailsClearlyAndNothingHappens() throws {
        let scripts = try FileManager.default.contentsOfDirectory(atPath: testScripts("attacks"))
            .filter { $0.hasSuffix(".nse") }.map { String($0.dropLast(4)) }
        // The corpus and the expectations name the same attacks.
        let named = Set(Self.observed.keys).union(Self.endedBecause.keys).union(["attack-report-newline"])
        #expect(Set(scripts) == named, "scripts without an expectation or expectations without a script")
        #expect(scripts.count >= 35)

        let nginx = try NginxService(title: "benign neighbour", port: .httpLikely)
        let canary = try Canary()
        let victim = "/tmp/nsebox-attack-remove"
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        try "return 'pwned'".write(toFile: "/tmp/nsebox_attack_module.lua", atomically: true, encoding: .utf8)
        let made = ["/tmp/nsebox-attack-renamed", "/tmp/nsebox-attack-output", "/tmp/nsebox-attack-dir"]
        // A file that starts like a Lua binary chunk, named in the script arguments.
        let binary = "/tmp/nsebox-attack-chunk-\(UUID().uuidString.prefix(6))"
        try Data([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00, 0x19, 0x93]).write(to: URL(fileURLWithPath: binary))
        defer { unlink(binary) }
        for path in made { rmdir(path); unlink(path) }
        defer { unlink(victim); unlink("/tmp/nsebox_attack_module.lua") }

        let dir = try scratchDirectory("attacks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let policy = try policyFile(named: "attacked", rights: """
            scripts default safe
            limit wall 5s
            limit sockets 64
            network targets+dns
            raw yes
            read nmap-data script-args
            """, in: dir)
        let started = Date()
        let ours = try runNsebox(["--policy", policy, "--script", "http-title," + testScripts("attacks"),
                                  "--script-args", "canary=127.0.0.2,canaryport=\(canary.port),binchunk=\(binary)",
                                  "-p", "\(nginx.port)", "127.0.0.1"], timeout: 120)
        let elapsed = Date().timeIntervalSince(started)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let report = reportBody(ours.stdout)
        #expect(report.contains("|_http-title: benign neighbour"), "\(ours.stdout)")
        for (script, line) in Self.observed {
            #expect(report.contains("|_\(script): \(line)"),
                    "\(script): \(report.filter { $0.contains(script) }) \(ours.stderr.split(separator: "\n").filter { $0.contains(script) })")
        }
        for (script, reasons) in Self.endedBecause {
            #expect(report.contains("|_\(script): ERROR: Script execution failed (use -d to debug)"), "\(script)")
            #expect(ours.stderr.components(separatedBy: "\n").contains { line in
                line.contains(script) && reasons.contains { line.contains($0) }
            }, "\(script): \(reasons)\n\(ours.stderr)")
        }
        // A forged report line stays inside the attacker's block.
        #expect(!report.contains("|_http-title: pwned by attack-report-newline"))
        #expect(report.contains { $0.hasPrefix("|") && $0.contains("pwned by attack-report-newline") })
        // Forged nsebox warnings never reach stderr or stdout as lines of nsebox's own.
        let allLines = (ours.stdout + "\n" + ours.stderr).components(separatedBy: "\n")
        #expect(!allLines.contains { $0.hasPrefix("nsebox: WARNING: forged") }, "\(ours.stderr)")
        #expect(!ours.stdout.contains("should not appear") && !ours.stderr.contains("the broker did not end me"))
        // Nothing happened outside.
        #expect(!canary.touched, "something reached 127.0.0.2")
        #expect(access(victim, F_OK) == 0, "the victim file was removed")
        for path in made { #expect(access(path, F_OK) != 0, "\(path) was created") }
        #expect(elapsed < 90, "the scan took \(elapsed) s")
        // Every child is gone once nsebox has exited.
        let leftovers = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).compactMap { Int32($0) }
            .filter { processName($0).hasPrefix("attack-") || commandLine($0).contains("attack-") }
        #expect(leftovers.isEmpty, "script processes left: \(leftovers)")
    }
}
