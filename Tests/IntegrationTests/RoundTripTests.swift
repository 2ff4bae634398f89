import Foundation
import Testing

@Suite("Round trips")
struct RoundTripTests {
    /// On one CPU (taskset -c 0), an instance waits for each reply in read(2), not
    /// in poll(2) then read: strace shows its 300 replies read from the RPC socket
    /// (fd 3) and no poll of it between them (Broker.repliesWaitInRead). The
    /// script prints what nmap prints.
    @Test func onOneCPUAnInstanceWaitsForItsRepliesInRead() throws {
        let dir = try scratchDirectory("roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let trace = dir.appendingPathComponent("trace").path
        let script = ["--script", testScripts("roundtrip") + "many-calls.nse", "127.0.0.1"]
        let run = try runProcess("/usr/bin/taskset", ["-c", "0", "/usr/bin/strace", "-f", "-qq", "-e", "trace=poll,read",
                                                      "-o", trace, try nseboxExecutableURL().path, "-p", "1"] + script)
        let expected = "|_many-calls: 300 round trips, 0 new targets"
        #expect(run.stdout.contains(expected), "\(run.stdout)\n\(run.stderr)")

        // strace -f: "PID read(3, ..." and "PID poll([{fd=3, ...", a line per call
        // begun (a call another process interrupts goes on in a "resumed" line);
        // the pid is padded to five characters ("123   read(3, ...").
        var reads: [Substring: Int] = [:], polls: [Substring: Int] = [:]
        for line in try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1)
            guard fields.count == 2 else { continue }
            let pid = fields[0], call = fields[1].drop { $0 == " " }
            if call.hasPrefix("read(3,") { reads[pid, default: 0] += 1 }
            if call.hasPrefix("poll([{fd=3,") { polls[pid, default: 0] += 1 }
        }
        let instance = try #require(reads.max { $0.value < $1.value })
        #expect(instance.value >= 300, "the instance read its replies: \(reads)")
        #expect(polls[instance.key, default: 0] < 10, "the instance polled its socket: \(polls)")

        let nmap = try runNmap(["-sT", "-Pn", "-n", "-p", "1"] + script)
        #expect(nmap.stdout.contains(expected), "nmap:\n\(nmap.stdout)")
    }
}
