import Foundation
import Testing

/// The nmap module's facts about the network and the scan, against nmap.
@Suite("Network facts and new targets")
struct NetworkFactsTests {
    private func compare(_ script: String, extra: [String] = []) throws -> (RunResult, [String]) {
        let args = ["--script", testScripts("facts") + script] + extra + ["-p", "1", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let actual = groupedReport(fullReport(ours.stdout))
        #expect(actual == groupedReport(fullReport(nmap.stdout)), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
        return (ours, actual)
    }

    @Test func resolveDNSServersAndInterfacesMatchNmap() throws {
        let (_, report) = try compare("network-facts.nse")
        #expect(report.contains("| network-facts: resolve: true 127.0.0.1"), "\(report)")
        #expect(report.contains { $0.hasPrefix("| lo: lo 127.0.0.1/8 loopback up mtu>0=true") }, "\(report)")
    }

    @Test func targetsAddedByAScriptJoinTheScanAsInNmap() throws {
        let (_, report) = try compare("new-targets.nse", extra: ["--script-args", "newtargets"])
        #expect(report.contains("Nmap scan report for 127.0.0.2"), "\(report)")
        #expect(report.contains("|_new-targets: scanned as a new target: 127.0.0.2"))
    }

    @Test func addingTargetsNeedsTheNewtargetsArgument() throws {
        let ours = try runNsebox(["--script", testScripts("facts") + "new-targets.nse", "-p", "1", "127.0.0.1"])
        #expect(!ours.stdout.contains("Nmap scan report for 127.0.0.2"), "\(ours.stdout)")
        #expect(ours.stdout.contains("|_new-targets: added: false"), "\(ours.stdout)")
    }
}
