import Foundation
import Testing

/// `--nmap-xml`: scripts run on what an earlier `nmap -oX` scan found.
@Suite("Input from an nmap scan")
struct NmapXMLInputTests {
    private func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-xml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// A version scan's results reach the port table exactly as nmap gives them to
    /// scripts during that scan: same portrules, same fields, same report.
    @Test func versionScanResultsDrivePortrulesAsInNmap() throws {
        let nginx = try NginxService(title: "xml input", port: .httpLikely)
        let ssh = try SSHService()
        let closed = try ClosedPort()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = dir.appendingPathComponent("scan.xml").path
        let ports = "\(nginx.port),\(ssh.port),\(closed.port)"
        let scan = try runNmap(["-sT", "-Pn", "-n", "-sV", "--version-light", "-p", ports, "127.0.0.1", "-oX", xml])
        #expect(scan.exitCode == 0, "\(scan.stderr)")
        let script = testScripts("xml") + "version-fields.nse"
        let nmap = try runNmap(["-sT", "-Pn", "-n", "-sV", "--version-light", "--script", script, "-p", ports, "127.0.0.1"])
        let ours = try runNsebox(["--nmap-xml", xml, "--script", script])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let notice = "Service detection performed."
        let expected = groupedReport(fullReport(nmap.stdout)).filter { !$0.hasPrefix(notice) }
        let actual = groupedReport(fullReport(ours.stdout))
        #expect(actual.contains { $0.contains("product=OpenSSH") && $0.contains("dtype=probed") }, "\(ours.stdout)")
        #expect(actual.contains { $0.contains("product=nginx") }, "\(ours.stdout)")
        #expect(actual == expected, "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// OS matches (perfect ones only, as the seed specifies), MAC, traceroute, times
    /// and the user's host name arrive in the host table.
    @Test func osMacTracerouteAndNamesReachTheHostTable() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = dir.appendingPathComponent("os.xml")
        try """
        <?xml version="1.0" encoding="UTF-8"?>
        <nmaprun scanner="nmap" args="nmap -O 127.0.0.1" start="1" version="7.93" xmloutputversion="1.05">
        <host starttime="1" endtime="2"><status state="up" reason="echo-reply" reason_ttl="64"/>
        <address addr="127.0.0.1" addrtype="ipv4"/>
        <address addr="02:42:AC:11:00:02" addrtype="mac"/>
        <hostnames><hostname name="localhost" type="user"/><hostname name="loop.example" type="PTR"/></hostnames>
        <ports><port protocol="tcp" portid="1"><state state="closed" reason="reset" reason_ttl="64"/><service name="tcpmux" method="table" conf="3"/></port></ports>
        <os><osmatch name="Linux 2.6.32 - 3.2" accuracy="100" line="1">
        <osclass type="general purpose" vendor="Linux" osfamily="Linux" osgen="2.6.X" accuracy="100"><cpe>cpe:/o:linux:linux_kernel:2.6</cpe></osclass>
        </osmatch><osmatch name="Not Perfect" accuracy="95" line="2">
        <osclass type="router" vendor="X" osfamily="Y" accuracy="95"><cpe>cpe:/o:x:y</cpe></osclass></osmatch></os>
        <trace port="1" proto="tcp"><hop ttl="1" ipaddr="127.0.0.1" rtt="0.25"/></trace>
        <times srtt="2500" rttvar="100" to="100000"/>
        </host>
        </nmaprun>
        """.write(to: xml, atomically: true, encoding: .utf8)
        let ours = try runNsebox(["--nmap-xml", xml.path, "--script", testScripts("xml") + "host-fields.nse"])
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = "|_host-fields: targetname=localhost name=loop.example; "
            + "os1=Linux 2.6.32 - 3.2/Linux/Linux/2.6.X/general purpose/cpe:/o:linux:linux_kernel:2.6; "
            + "mac=0242ac110002; hop1=127.0.0.1,0.00025; srtt=0.0025 reason=echo-reply"
        #expect(ours.stdout.contains(expected), "\(ours.stdout)\n\(ours.stderr)")
        #expect(ours.stdout.contains("Nmap scan report for localhost (127.0.0.1)"))
    }

    @Test(arguments: [
        ("<nmaprun>\n<host>\n<address addr=\"127.0.0.1\" addrtype=\"ipv4\"/>\n</nmaprun>\n", "line 4"),
        ("<nmaprun>\n<host><status state=\"up\"/>\n<address addr=\"127.0.0.1\" addrtype=\"ipv4\"/>\n", "Truncated nmap XML in"),
        ("<nmaprun>\n<host><status state=\"up\"/>\n<address addr=\"127.0.0.1\" addrtype=\"ipv4\"/>\n", "ends at line 3 before </nmaprun>"),
        ("this is not xml\n", "line 1"),
    ])
    func malformedXMLIsAClearErrorAndNothingRuns(text: String, mentions: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = dir.appendingPathComponent("bad.xml")
        try text.write(to: xml, atomically: true, encoding: .utf8)
        let ours = try runNsebox(["--nmap-xml", xml.path, "--script", testScripts("xml") + "host-fields.nse"])
        #expect(ours.exitCode == 1)
        #expect(ours.stderr.contains(mentions) && ours.stderr.contains("bad.xml"), "\(ours.stderr)")
        #expect(!ours.stdout.contains("scan report"))
    }
}
