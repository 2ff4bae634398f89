import Foundation
import Testing

// nsebox's output files: -oX (nmap's XML, checked against nmap's DTD and, with
// ndiff, against nmap's own XML of the same scan), -oJ (our JSON) and -oA.

/// A temporary directory for output files, removed on release unless
/// NSEBOX_KEEP_TEMP is set.
private final class OutputDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-out-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit {
        if ProcessInfo.processInfo.environment["NSEBOX_KEEP_TEMP"] == nil {
            try? FileManager.default.removeItem(at: url)
        }
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func read(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }
}

private let nmapDTD = "/usr/share/nmap/nmap.dtd"

/// xmllint's verdict on `file` against nmap's DTD.
private func validateAgainstNmapDTD(_ file: String) throws -> RunResult {
    try runProcess("/usr/bin/xmllint", ["--noout", "--dtdvalid", nmapDTD, file], timeout: 60)
}

/// Debian's ndiff on two XML files. ndiff 7.93 under Python 3 crashes sorting
/// the script results of a port or host that has more than one
/// ("'<' not supported between instances of 'ScriptResult' and 'ScriptResult'",
/// nmap/nmap#2930, fixed upstream by giving ScriptResult an order), and nmap's
/// own XML of our scans has such ports. So this runs the installed ndiff module
/// the way /usr/bin/ndiff does, after giving ScriptResult that missing order
/// (by id, then output) when it has none.
private func runNdiff(_ a: String, _ b: String, directory: OutputDirectory) throws -> RunResult {
    let wrapper = """
        import sys
        sys.path.insert(0, "/usr/lib/python3/dist-packages")
        import ndiff
        if ndiff.ScriptResult.__lt__ is object.__lt__:
            ndiff.ScriptResult.__lt__ = lambda x, y: (x.id or "", x.output or "") < (y.id or "", y.output or "")
        sys.argv[0] = "/usr/bin/ndiff"
        sys.exit(ndiff.main())

        """
    let script = directory.path("ndiff-wrapper.py")
    try Data(wrapper.utf8).write(to: URL(fileURLWithPath: script))
    return try runProcess("/usr/bin/python3", [script, a, b], timeout: 60)
}

@Suite("Output files: -oX, -oJ, -oA")
struct OutputFormatTests {
    /// A title with every character XML escapes, and a "--".
    static let awkwardTitle = "nsebox out & \"xml\" 'quoted' -- done"

    @Test func xmlIsValidAgainstNmapsDTD() throws {
        let nginx = try NginxService(title: Self.awkwardTitle, port: .httpLikely)
        let closed = try ClosedPort()
        let out = try OutputDirectory()
        let xml = out.path("scan.xml")
        let ours = try runNsebox(["--script", "http-title," + testScripts("compare"),
                                  "-p", "\(nginx.port),\(closed.port)", "127.0.0.1", "-oX", xml])
        #expect(ours.exitCode == 0, "\(ours)")
        let text = try out.read("scan.xml")
        // It holds what was scanned: the title (escaped), a structured table, the closed port.
        let escapedTitle = "nsebox out &amp; &quot;xml&quot; &apos;quoted&apos; -&#45; done"
        #expect(text.contains("<script id=\"http-title\" output=\"\(escapedTitle)\"><elem key=\"title\">\(escapedTitle)</elem>\n</script>"),
                "\(text)")
        #expect(text.contains("<table key=\"ordered\">\n<elem key=\"z\">last letter first</elem>\n<elem key=\"a\">first letter last</elem>\n</table>"),
                "\(text)")
        #expect(text.contains("<port protocol=\"tcp\" portid=\"\(closed.port)\"><state state=\"closed\" reason=\"conn-refused\""),
                "\(text)")
        // Bytes that are no XML characters are written as nmap writes them.
        #expect(text.contains("second line&#xd;&#xa;\\x01tail"), "\(text)")
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII })

        let lint = try validateAgainstNmapDTD(xml)
        #expect(lint.exitCode == 0, "xmllint: \(lint)\n\(text)")
        #expect(lint.stderr.isEmpty, "xmllint: \(lint)")
    }

    @Test func ndiffSeesNoDifferenceFromNmapsXML() throws {
        let nginx = try NginxService(title: "ndiff \(UUID().uuidString.prefix(6))", port: .httpLikely)
        let closed = try ClosedPort()
        let out = try OutputDirectory()
        let args = ["--script", "http-title," + testScripts("compare"), "-p", "\(nginx.port),\(closed.port)", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args + ["-oX", out.path("nmap.xml")])
        #expect(nmap.exitCode == 0, "\(nmap)")
        let ours = try runNsebox(args + ["-oX", out.path("nsebox.xml")])
        #expect(ours.exitCode == 0, "\(ours)")
        // The comparison is about something: both have the title and the structured script.
        for file in ["nmap.xml", "nsebox.xml"] {
            let text = try out.read(file)
            #expect(text.contains("<script id=\"http-title\" output=\"\(nginx.title)\"><elem key=\"title\">"), "\(file):\n\(text)")
            #expect(text.contains("<script id=\"structured\""), "\(file):\n\(text)")
        }

        // For two scans with equal content ndiff prints only the banner of each
        // ("-Nmap 7.93 scan initiated <date> as: <args>", then "+..."): any
        // difference in hosts, ports, services or script output adds a section
        // with context lines and -/+ lines.
        let diff = try runNdiff(out.path("nmap.xml"), out.path("nsebox.xml"), directory: out)
        #expect(diff.exitCode == 0, "\(diff)")
        #expect(diff.stderr.isEmpty, "\(diff)")
        let lines = diff.stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        #expect(lines.count == 2, "ndiff found differences:\n\(diff.stdout)")
        #expect(lines.first?.hasPrefix("-Nmap 7.93 scan initiated ") == true && lines.first?.contains(" as: ") == true,
                "\(diff.stdout)")
        #expect(lines.last?.hasPrefix("+Nmap 7.93 scan initiated ") == true && lines.last?.contains("nsebox") == true,
                "\(diff.stdout)")
    }

    @Test func jsonHoldsTextAndOrderedStructuredOutput() throws {
        let title = "json \(UUID().uuidString.prefix(6)) \"quoted\" \\ back"
        let nginx = try NginxService(title: title, port: .httpLikely)
        let closed = try ClosedPort()
        let out = try OutputDirectory()
        let ours = try runNsebox(["--script", "http-title," + testScripts("compare"),
                                  "-p", "\(nginx.port),\(closed.port)", "127.0.0.1", "-oJ", out.path("scan.json")])
        #expect(ours.exitCode == 0, "\(ours)")
        let data = try Data(contentsOf: URL(fileURLWithPath: out.path("scan.json")))
        let raw = String(decoding: data, as: UTF8.self)
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(raw)")
        #expect(document["scanner"] as? String == "nsebox")
        #expect((document["args"] as? String)?.contains("-oJ") == true)
        let hosts = try #require(document["hosts"] as? [[String: Any]])
        #expect(hosts.count == 1)
        let host = try #require(hosts.first)
        #expect(host["address"] as? String == "127.0.0.1")
        let ports = try #require(host["ports"] as? [[String: Any]])
        #expect(ports.map { $0["port"] as? Int } == [nginx.port, closed.port].sorted())
        let web = try #require(ports.first { $0["port"] as? Int == nginx.port })
        #expect(web["state"] as? String == "open")
        let webScripts = try #require(web["scripts"] as? [[String: Any]])
        let httpTitle = try #require(webScripts.first { $0["id"] as? String == "http-title" }, "\(raw)")
        #expect(httpTitle["output"] as? String == title)
        #expect(httpTitle["data"] as? [String: String] == ["title": title], "\(raw)")
        let failing = try #require((host["hostscripts"] as? [[String: Any]])?.first { $0["id"] as? String == "failing" })
        #expect(failing["data"] is NSNull, "\(raw)")

        let hostScripts = try #require(host["hostscripts"] as? [[String: Any]])
        let structured = try #require(hostScripts.first { $0["id"] as? String == "structured" }, "\(raw)")
        let table = try #require(structured["data"] as? [String: Any], "\(raw)")
        #expect(table["first"] as? String == "plain")
        #expect(table["bytes"] as? String == "tab\there, bell\u{07}, high\u{C8}")
        let list = try #require(table["list"] as? [Any])
        #expect(list.count == 3)
        #expect(list.prefix(2).compactMap { $0 as? String } == ["one", "two"])
        #expect(list.last as? [String] == ["nested", "deeper"])
        #expect(table["number"] as? Int == 42)
        #expect(table["float"] as? Double == 2.5)
        #expect((table["ordered"] as? [String: String]) == ["z": "last letter first", "a": "first letter last"])
        let multiline = try #require(hostScripts.first { $0["id"] as? String == "multiline" })
        #expect(multiline["output"] as? String == "first line\nsecond line\r\n\u{01}tail\n\nafter blank\n")

        // Key order, from the text: the script's order, not sorted.
        let start = try #require(raw.range(of: "\"id\": \"structured\""), "\(raw)")
        let rest = raw[start.upperBound...]
        var position = rest.startIndex
        for key in ["\"first\": \"plain\"", "\"bytes\": \"tab\\there, bell\\u0007, high\\u00c8\"", "\"list\": [",
                    "\"number\": 42", "\"float\": 2.5", "\"flag\": true", "\"ordered\": {",
                    "\"z\": \"last letter first\"", "\"a\": \"first letter last\""] {
            let found = rest.range(of: key, range: position..<rest.endIndex)
            #expect(found != nil, "\(key) missing or out of order in:\n\(rest.prefix(900))")
            if let found { position = found.upperBound }
        }
    }

    @Test func oAWritesNormalXMLAndJSON() throws {
        let title = "all \(UUID().uuidString.prefix(6))"
        let nginx = try NginxService(title: title, port: .httpLikely)
        let out = try OutputDirectory()
        let base = out.path("scan")
        let ours = try runNsebox(["--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1", "-oA", base])
        #expect(ours.exitCode == 0, "\(ours)")
        let names = try FileManager.default.contentsOfDirectory(atPath: out.url.path).sorted()
        #expect(names == ["scan.json", "scan.nmap", "scan.xml"])

        let normal = try out.read("scan.nmap")
        #expect(reportBody(normal) == reportBody(ours.stdout), "\(normal)\n---\n\(ours.stdout)")
        #expect(normal.contains("|_http-title: \(title)"), "\(normal)")

        let xml = try out.read("scan.xml")
        #expect(xml.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"))
        #expect(xml.contains("<script id=\"http-title\" output=\"\(title)\"><elem key=\"title\">\(title)</elem>"), "\(xml)")
        let lint = try validateAgainstNmapDTD(base + ".xml")
        #expect(lint.exitCode == 0, "\(lint)")

        let json = try Data(contentsOf: URL(fileURLWithPath: base + ".json"))
        let document = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        #expect(document?["scanner"] as? String == "nsebox")
        #expect(String(decoding: json, as: UTF8.self).contains("\"output\": \"\(title)\""))
    }
}
