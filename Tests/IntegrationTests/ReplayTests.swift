import Foundation
import Testing

/// `nsebox replay FILE`: the recorded scan again, offline, the broker answering
/// every socket operation from the audit log.
@Suite("Replay", .serialized)
struct ReplayTests {
    /// The report between its first line and its timing footer.
    static func body(_ stdout: String) -> [String] {
        stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.hasPrefix("Starting nsebox") && !$0.hasPrefix("nsebox done:") }
    }

    @Test func replayReproducesTheLiveReportOfBannerHttpTitleSshHostkeyAndSslCert() throws {
        var http: NginxService? = try NginxService(title: "recorded page", port: .httpLikely)
        var https: NginxService? = try NginxService(title: "recorded tls page", port: .httpsLikely, tls: true)
        var ssh: SSHService? = try SSHService()
        let dir = try scratchDirectory("replay")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let ports = "\(http!.port),\(https!.port),\(ssh!.port)"
        let live = try runNsebox(["--audit-log", log, "--script", "banner,http-title,+ssh-hostkey,ssl-cert",
                                  "--script-args", "banner.timeout=1s", "-p", ports, "127.0.0.1"])
        let hostKeyParts = ssh!.hostKeyPublic.split(separator: " ")
        // Stop every service: a replay that touched the network would get refusals.
        http = nil; https = nil; ssh = nil

        #expect(live.exitCode == 0, "\(live)")
        for expected in ["|_http-title: recorded page", "|_http-title: recorded tls page",
                         "| ssl-cert: Subject: commonName=nsebox-test.example", "|_banner: SSH-2.0-OpenSSH_",
                         "| ssh-hostkey: ", "(ED25519)"] {
            #expect(live.stdout.contains(expected), "live report lacks \(expected):\n\(live.stdout)\n\(live.stderr)")
        }
        #expect(hostKeyParts.count >= 2)

        let replay = try runNsebox(["replay", log])
        #expect(replay.exitCode == 0, "\(replay.stdout)\n\(replay.stderr)")
        #expect(!replay.stderr.contains("replay:"), "\(replay.stderr)")
        #expect(Self.body(replay.stdout) == Self.body(live.stdout),
                "live:\n\(live.stdout)\nreplay:\n\(replay.stdout)\n\(replay.stderr)")

        // The replay's own XML report too, beside the recorded scan's.
        let xml = dir.appendingPathComponent("replay.xml").path
        let again = try runNsebox(["replay", log, "-oX", xml])
        #expect(again.exitCode == 0, "\(again.stderr)")
        let text = try String(contentsOfFile: xml, encoding: .utf8)
        #expect(text.contains("id=\"ssh-hostkey\"") && text.contains("recorded tls page"), "\(text)")
    }

    /// host.times comes from the live port scan's answers; a replay scans
    /// nothing, so it hands scripts the estimate the audit log's host record kept.
    @Test func replayHandsScriptsTheRecordedHostTimes() throws {
        var open: ListeningPorts? = try ListeningPorts(count: 1)
        let dir = try scratchDirectory("replay-times")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let live = try runNsebox(["--audit-log", log, "--script", testScripts("times"), "-p", "\(open!.ports[0])", "127.0.0.1"])
        open = nil
        let line = { (report: String) in report.split(separator: "\n").filter { $0.contains("host-times:") } }
        #expect(line(live.stdout) == ["|_host-times: timeout=0.1 rttvar=0.005 answered=true get_timeout=1000"], "\(live.stdout)")
        let replay = try runNsebox(["replay", log])
        #expect(replay.exitCode == 0, "\(replay.stdout)\n\(replay.stderr)")
        #expect(line(replay.stdout) == line(live.stdout), "live:\n\(live.stdout)\nreplay:\n\(replay.stdout)")
    }

    @Test func aScriptThatDepartsFromItsRecordingGetsAnErrorSayingWhere() throws {
        let nginx = try NginxService(title: "departure", port: .httpLikely)
        let dir = try scratchDirectory("replay-departs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let live = try runNsebox(["--audit-log", log, "--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(live.stdout.contains("|_http-title: departure"), "\(live)")

        // Another User-Agent: the first send is not the recorded one.
        let changed = try runNsebox(["replay", log, "--script-args", "http.useragent=somebody else"])
        #expect(changed.exitCode == 1, "\(changed)")
        #expect(changed.stdout.contains("|_http-title: ERROR: Script execution failed"), "\(changed.stdout)")
        let target = "127.0.0.1:\(nginx.port)/tcp"
        #expect(changed.stderr.contains("replay: http-title against \(target) (recorded as http-title#"), "\(changed.stderr)")
        #expect(changed.stderr.contains("sends 90 bytes on socket") || changed.stderr.contains("that differ from the recorded"),
                "\(changed.stderr)")
        #expect(changed.stderr.contains("operation 1") && changed.stderr.contains("1 departure from the recording"),
                "\(changed.stderr)")

        // A script the recording does not have: its connect is a departure.
        let other = try runNsebox(["replay", log, "--script", "http-title,http-headers"])
        #expect(other.exitCode == 1, "\(other)")
        #expect(other.stderr.contains("replay: http-headers against \(target): the recording has no such instance, "
                                      + "and the script makes a tcp connect to 127.0.0.1:\(nginx.port)"), "\(other.stderr)")
        #expect(other.stdout.contains("|_http-title: departure"), "\(other.stdout)")

        // A log whose chain is broken is not replayed.
        var lines = try auditLines(log)
        lines[1] = lines[1].replacingOccurrences(of: "http-title", with: "http-titlE")
        let tampered = dir.appendingPathComponent("tampered.jsonl").path
        try lines.joined().write(toFile: tampered, atomically: true, encoding: .utf8)
        let refused = try runNsebox(["replay", tampered])
        #expect(refused.exitCode == 1 && refused.stderr.contains("line 3: prev does not match"), "\(refused.stderr)")
        #expect(!refused.stdout.contains("Nmap scan report"), "\(refused.stdout)")
    }
}
