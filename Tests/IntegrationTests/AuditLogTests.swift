import Foundation
import Glibc
import Testing

/// The lines of an audit log, each with its newline.
func auditLines(_ path: String) throws -> [String] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { $0 + "\n" }
}

/// A JSON object of the log as a dictionary.
func auditRecord(_ line: String) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
}

/// `--audit-log`: the broker's record of every script's I/O, hash-chained.
@Suite("Audit log")
struct AuditLogTests {
    @Test func aScanIsRecordedAndTheChainChecksWithSha256sumAlone() throws {
        let nginx = try NginxService(title: "audited page", port: .httpLikely)
        let dir = try scratchDirectory("audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let ours = try runNsebox(["--audit-log", log, "--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(ours.stdout.contains("|_http-title: audited page"), "\(ours.stdout)")
        let verify = try runNsebox(["audit", "verify", log])
        #expect(verify.exitCode == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("chain whole, ended by the broker"), "\(verify.stdout)")
        // The file (written through a mapping that grows a mebibyte at a time)
        // ends at its last line.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: log))
        #expect(bytes.last == 10 && !bytes.contains(0), "\(bytes.count) bytes, the last \(bytes.last ?? 0)")

        let lines = try auditLines(log)
        let records = lines.map(auditRecord)
        for (i, r) in records.enumerated() {
            for key in ["seq", "ts", "instance", "script", "target", "event", "prev"] {
                #expect(r[key] != nil, "line \(i + 1) has no \(key): \(lines[i])")
            }
            #expect((r["seq"] as? Int) == i + 1)
        }
        // Each prev is what sha256sum says of the line before.
        for i in 1..<lines.count {
            let sum = try runProcess("/bin/sh", ["-c", "sed -n \(i)p '\(log)' | sha256sum"])
            #expect(sum.stdout.prefix(64) == (records[i]["prev"] as? String ?? "").prefix(64), "line \(i + 1)")
        }
        #expect(records[0]["prev"] as? String == String(repeating: "0", count: 64))
        // What http-title sent and received, with its target and the script's hash.
        let title = records.filter { $0["script"] as? String == "http-title" && ($0["target"] as? String)?.hasSuffix(":\(nginx.port)/tcp") == true }
        func decoded(_ r: [String: Any]) -> String {
            String(decoding: Data(base64Encoded: r["data"] as? String ?? "") ?? Data(), as: UTF8.self)
        }
        #expect(title.first?["event"] as? String == "start")
        #expect((title.first?["script_sha256"] as? String)?.count == 64)
        #expect(title.contains { $0["event"] as? String == "connect" && $0["result"] as? String == "ok" })
        #expect(title.contains { $0["event"] as? String == "send" && decoded($0).hasPrefix("GET / HTTP/1.1\r\n") })
        #expect(title.contains { $0["event"] as? String == "receive" && decoded($0).contains("<title>audited page</title>") })
        #expect(title.last?["event"] as? String == "exit" && title.last?["status"] as? String == "output")
        #expect(records.last?["event"] as? String == "end")
    }

    /// A script's random bytes are ChaCha20's keystream under the seed the log
    /// records (block counter and nonce 0), as `openssl enc -chacha20` computes
    /// it: what lets a replay of any recorded log give scripts their numbers
    /// again. The bootstrap takes the stream's first 16 bytes (math.random's seed).
    @Test func aScriptsRandomBytesAreChaCha20UnderTheRecordedSeed() throws {
        let dir = try scratchDirectory("random")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let ours = try runNsebox(["--audit-log", log, "--script", testScripts("random"), "-p", "1", "127.0.0.1"])
        let line = ours.stdout.split(separator: "\n").first { $0.contains("random-stream: ") }
        let drawn = line.map { String($0.split(separator: " ").last ?? "") } ?? ""
        #expect(drawn.count == 2 * 130, "\(ours.stdout)\n\(ours.stderr)")
        let start = try auditLines(log).map(auditRecord).first { $0["event"] as? String == "start" && $0["rule"] as? String == "hostrule" }
        let seed = start?["random_seed"] as? String ?? ""
        #expect(seed.count == 64, "\(String(describing: start))")
        let keystream = try runProcess("/bin/sh", ["-c",
            "head -c 146 /dev/zero | openssl enc -chacha20 -K \(seed) -iv \(String(repeating: "0", count: 32)) | od -An -v -tx1 | tr -d ' \\n'"])
        #expect(keystream.stdout.count == 2 * 146, "\(keystream.stderr)")
        #expect(drawn == String(keystream.stdout.dropFirst(2 * 16)), "seed \(seed)")
    }

    @Test func aChangedDeletedReorderedOrAppendedLineIsNamed() throws {
        let dir = try scratchDirectory("audit-tamper")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let nginx = try NginxService(title: "audited page", port: .httpLikely)
        _ = try runNsebox(["--audit-log", log, "--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        let lines = try auditLines(log)
        try #require(lines.count >= 5, "\(lines)")
        func verdict(_ tampered: [String]) throws -> RunResult {
            let path = dir.appendingPathComponent("tampered.jsonl").path
            try tampered.joined().write(toFile: path, atomically: true, encoding: .utf8)
            return try runNsebox(["audit", "verify", path])
        }
        var changed = lines
        changed[2] = changed[2].replacingOccurrences(of: "\"http-title\"", with: "\"http-titlE\"")
        var result = try verdict(changed)
        #expect(result.exitCode == 1 && result.stderr.contains("line 4: prev does not match the SHA-256 of line 3"), "\(result.stderr)")

        var deleted = lines
        deleted.remove(at: 2)
        result = try verdict(deleted)
        #expect(result.exitCode == 1 && result.stderr.contains("line 3: prev does not match"), "\(result.stderr)")

        var reordered = lines
        reordered.swapAt(2, 3)
        result = try verdict(reordered)
        #expect(result.exitCode == 1 && result.stderr.contains("line 3: prev does not match"), "\(result.stderr)")

        // A record after the end, even one chained correctly to it.
        let last = lines.last!
        let sum = try runProcess("/bin/sh", ["-c", "tail -n 1 '\(log)' | sha256sum"]).stdout.prefix(64)
        let forged = "{\"seq\":\(lines.count + 1),\"ts\":\"x\",\"instance\":\"\",\"script\":\"\",\"target\":\"\",\"event\":\"note\",\"prev\":\"\(sum)\"}\n"
        result = try verdict(lines + [forged])
        #expect(result.exitCode == 1 && result.stderr.contains("line \(lines.count + 1): a record after the end record"),
                "\(result.stderr)\n\(last)")
        // Untouched, it verifies.
        result = try verdict(lines)
        #expect(result.exitCode == 0, "\(result.stderr)")
    }

    @Test func aBrokerKilledMidScanLeavesALogThatVerifies() throws {
        let dir = try scratchDirectory("audit-crash")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let out = dir.appendingPathComponent("out").path
        let broker = try ChildProcess(executable: try nseboxExecutableURL().path,
                                      arguments: ["--audit-log", log, "--script", testScripts("probe") + "sleepy.nse",
                                                  "-p", "1", "127.0.0.1"],
                                      stdoutPath: out, stderrPath: out)
        defer { broker.terminate() }
        // Wait for the sleeping instance's start record, then kill the broker.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"target\":\"127.0.0.1\",\"event\":\"start\"") {
            usleep(20_000)
        }
        kill(broker.pid, SIGKILL)
        #expect(broker.wait(timeout: 10))
        // Zeros follow the last line the broker wrote (its file grew ahead of it).
        #expect(try Data(contentsOf: URL(fileURLWithPath: log)).last == 0)
        // A torn last line, as a write cut short would leave.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        handle.write(Data("{\"seq\":99,\"ts\":\"torn".utf8))
        try handle.close()
        let verify = try runNsebox(["audit", "verify", log])
        #expect(verify.exitCode == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("no end record (the broker did not finish)"), "\(verify.stdout)")
        #expect(try auditLines(log).contains { $0.contains("\"event\":\"start\"") && $0.contains("sleepy") })
    }

    @Test func scriptTraceAndAuditShowPrintTheConversation() throws {
        let nginx = try NginxService(title: "traced page", port: .httpLikely)
        let dir = try scratchDirectory("audit-show")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let request = "00000000: 47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a  GET / HTTP/1.1.."
        // Live: the transcript on stdout, and the report as usual.
        let traced = try runNsebox(["--script-trace", "--audit-log", log, "--script", "http-title,banner",
                                    "-p", "\(nginx.port)", "127.0.0.1"])
        let lines = traced.stdout.components(separatedBy: "\n")
        #expect(lines.contains(request), "\(traced.stdout)")
        #expect(lines.contains { $0.hasPrefix("NSE: [http-title#") && $0.hasSuffix("TCP > 127.0.0.1:\(nginx.port) | CONNECT ok") })
        #expect(lines.contains { $0.contains("| RECEIVE ") }, "\(traced.stdout)")
        #expect(lines.contains("|_http-title: traced page"), "\(traced.stdout)")
        // From the log: the same conversation, filtered by script and target.
        let shown = try runNsebox(["audit", "show", log, "--script", "http-title"])
        #expect(shown.exitCode == 0, "\(shown.stderr)")
        let shownLines = shown.stdout.components(separatedBy: "\n")
        #expect(shownLines.contains(request), "\(shown.stdout)")
        #expect(!shownLines.contains { $0.contains("[banner#") })
        let other = try runNsebox(["audit", "show", log, "--target", "127.0.0.2"])
        #expect(other.exitCode == 0 && other.stdout.isEmpty, "\(other.stdout)")
        let banner = try runNsebox(["audit", "show", log, "--script", "banner", "--target", "127.0.0.1"])
        #expect(banner.stdout.contains("[banner#") && !banner.stdout.contains("[http-title#"), "\(banner.stdout)")
        // nginx says nothing first: banner's receive ends in a timeout, and that is recorded too.
        #expect(banner.stdout.contains("| RECEIVE TIMEOUT"), "\(banner.stdout)")
    }

    @Test func tlsHandshakesAndExitsAreRecorded() throws {
        let nginx = try NginxService(title: "audited tls", port: .httpsLikely, tls: true)
        let dir = try scratchDirectory("audit-tls")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let ours = try runNsebox(["--audit-log", log, "--script", "ssl-cert", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(ours.stdout.contains("| ssl-cert: Subject: commonName=nsebox-test.example"), "\(ours.stdout)")
        let records = try auditLines(log).map(auditRecord)
        let tls = try #require(records.first { $0["event"] as? String == "tls" }, "no tls record")
        #expect((tls["version"] as? String)?.hasPrefix("TLSv1") == true, "\(tls)")
        #expect((tls["cipher"] as? String)?.isEmpty == false)
        let der = try runProcess("/bin/sh", ["-c", "openssl x509 -in '\(nginx.directory.path)/cert.pem' -outform der | sha256sum"])
        #expect(tls["peer_certificate_sha256"] as? String == String(der.stdout.prefix(64)), "\(tls)")
        for exit in records.filter({ $0["event"] as? String == "exit" }) {
            #expect((exit["cpu_ms"] as? Int ?? -1) >= 0 && (exit["max_rss_kib"] as? Int ?? 0) > 1000, "\(exit)")
        }
    }

    @Test func thePcapngExportIsReadByTshark() throws {
        let nginx = try NginxService(title: "captured page", port: .httpLikely)
        let dir = try scratchDirectory("audit-pcap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let pcap = dir.appendingPathComponent("out.pcapng").path
        _ = try runNsebox(["--audit-log", log, "--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        let export = try runNsebox(["audit", "pcap", log, "-o", pcap])
        #expect(export.exitCode == 0, "\(export.stderr)")
        let tshark = "/usr/bin/tshark"
        guard FileManager.default.isExecutableFile(atPath: tshark) else {
            throw ServiceError.missingExecutable(path: tshark, hint: "install it with `apt-get install tshark` (scripts/deps --test does)")
        }
        let requests = try runProcess(tshark, ["-r", pcap, "-Y", "http.request", "-T", "fields",
                                               "-e", "http.request.method", "-e", "http.request.uri", "-e", "http.host", "-e", "frame.comment"])
        #expect(requests.exitCode == 0, "\(requests.stderr)")
        let rows = requests.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.contains { $0.count == 4 && $0[0] == "GET" && $0[1] == "/" && $0[2] == "127.0.0.1:\(nginx.port)"
            && $0[3].hasPrefix("http-title#") }, "\(requests.stdout)")
        // The stream reassembles: the response with the page's title.
        let stream = try runProcess(tshark, ["-r", pcap, "-q", "-z", "follow,tcp,ascii,0"])
        #expect(stream.stdout.contains("<title>captured page</title>"), "\(stream.stdout.prefix(2000))")
    }
}
