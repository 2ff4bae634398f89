import Foundation
import Testing

/// bench/run's W2, run only when it asks (NSEBOX_BENCH_W2=1): nmap's default
/// category against the conformance suite's services, nmap and nsebox in turn.
/// It prints times and asserts nothing about them (speed is the benchmark's
/// business, never a test's); it lives here to share the services' launchers.
@Suite("W2 benchmark", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["NSEBOX_BENCH_W2"] == "1", "bench/run's W2 only"))
struct W2Benchmark {
    /// Script results in a report: "| id:" or "|_id:" lines.
    static func results(_ report: String) -> Int {
        report.split(separator: "\n").filter { line in
            guard line.hasPrefix("| ") || line.hasPrefix("|_") else { return false }
            let word = line.dropFirst(2).prefix { $0 != ":" && $0 != " " }
            return !word.isEmpty && line.dropFirst(2 + word.count).hasPrefix(":")
        }.count
    }

    @Test func defaultCategoryAgainstTheConformanceServices() throws {
        let services = try ConformanceServices()
        defer { services.stop() }
        let tcp = ConformanceServices.tcpPorts.map(String.init).joined(separator: ",")
        let udp = ConformanceServices.udpPorts.map(String.init).joined(separator: ",")
        let args = ["-sT", "-sU", "-Pn", "-n", "-p", "T:\(tcp),U:\(udp)", "--script", "default", "127.0.0.1"]
        let runs = Int(ProcessInfo.processInfo.environment["NSEBOX_BENCH_RUNS"] ?? "") ?? 3
        var nmapTimes: [Double] = [], oursTimes: [Double] = []
        func timed(_ run: () throws -> RunResult) rethrows -> (Double, RunResult) {
            let start = Date()
            let r = try run()
            return (Date().timeIntervalSince(start), r)
        }
        for r in 1...runs {
            // A run that does not end within 300 s is reported and left out.
            do {
                let (tn, nmap) = try timed { try runNmap(args, timeout: 300) }
                let (to, ours) = try timed { try runNsebox(["--policy", "permissive"] + args, timeout: 300) }
                nmapTimes.append(tn)
                oursTimes.append(to)
                print(String(format: "W2 run %d: nmap %.2f s, nsebox %.2f s; script results: nmap %d, nsebox %d",
                             r, tn, to, Self.results(nmap.stdout), Self.results(ours.stdout)))
            } catch RunError.timedOut(let command, let seconds, _, _) {
                print("W2 run \(r): \(command.first ?? "?") did not finish within \(Int(seconds)) s; run left out")
            }
        }
        guard !nmapTimes.isEmpty else { return print("W2: no run finished") }
        let n = nmapTimes.sorted()[nmapTimes.count / 2], o = oursTimes.sorted()[oursTimes.count / 2]
        print(String(format: "W2 (default category, %d TCP and %d UDP ports), median of %d: nmap %.2f s, nsebox %.2f s: nsebox/nmap = %.2f",
                     ConformanceServices.tcpPorts.count, ConformanceServices.udpPorts.count, nmapTimes.count, n, o, o / n))
    }
}
