import Foundation
import Testing

/// UDP: the -sU scan's states and script sockets (sendto, connected UDP), against nmap.
@Suite("UDP")
struct UDPTests {
    @Test func udpScanStatesMatchNmap() throws {
        let dns = try DNSService()
        let closed = try ClosedPort()
        let args = ["-sU", "-p", "\(dns.port),\(closed.port)", "127.0.0.1"]
        let nmap = try runNmap(["-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let actual = reportBody(ours.stdout)
        // A port nmap-payloads has nothing for gets an empty datagram, which DNS
        // ignores: open|filtered, unlike the refused one.
        #expect(actual.contains { $0.hasPrefix("\(dns.port)/udp") && $0.contains(" open|filtered ") }, "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("\(closed.port)/udp") && $0.contains(" closed ") }, "\(ours.stdout)")
        #expect(reportDifferences(expected: reportBody(nmap.stdout), actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
    }

    @Test func udpSocketsMatchNmap() throws {
        let dns = try DNSService()
        let args = ["--script", testScripts("udp") + "udp-sockets.nse", "--script-args", "udp-sockets.port=\(dns.port)",
                    "-p", "1", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        let actual = groupedReport(fullReport(ours.stdout))
        #expect(actual.contains("| reply: true id=1234 answer=127.0.0.9"), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual == groupedReport(fullReport(nmap.stdout)), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
    }
}
