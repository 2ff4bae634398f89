import Foundation
import Testing

/// True once the child's certificate parser (CNSEModules' nsebox_cert) exists.
private let certificateModuleExists = FileManager.default.fileExists(
    atPath: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/CNSEModules/cert.c").path)

/// TLS done by the broker (TLSSession): nmap's own TLS scripts and our socket probe,
/// against nginx serving HTTPS with a throwaway certificate on an https-like port.
/// Serialized: the https-like ports are few.
@Suite("TLS sockets against nmap", .serialized)
struct TLSTests {
    /// Runs nmap and nsebox with the same arguments; returns both report bodies.
    /// nmap 7.93 now and then (about one run in four under `swift test`, never by
    /// hand) answers a receive on a fresh TLS connection with "ERROR": such a run of
    /// nmap is repeated, up to three times.
    private func both(_ args: [String]) throws -> (nmap: RunResult, ours: RunResult, expected: [String], actual: [String]) {
        var nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        for _ in 0..<2 where nmap.stdout.contains("| ssl receive: ERROR") {
            nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        }
        let ours = try runNsebox(args)
        return (nmap, ours, reportBody(nmap.stdout), reportBody(ours.stdout))
    }

    @Test func httpTitleOverHTTPSMatchesNmap() throws {
        let title = "nsebox over TLS \(UUID().uuidString.prefix(6))"
        let nginx = try NginxService(title: title, port: .httpsLikely, tls: true)
        let r = try both(["--script", "http-title", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(r.ours.exitCode == 0, "\(r.ours.stderr)")
        // The title can only come through TLS: nginx answers plain HTTP on this port with a 400.
        #expect(r.actual.contains("|_http-title: \(title)"), "\(r.ours.stdout)\n\(r.ours.stderr)")
        #expect(reportDifferences(expected: r.expected, actual: r.actual) == [],
                "nmap:\n\(r.nmap.stdout)\nnsebox:\n\(r.ours.stdout)\n\(r.ours.stderr)")
    }

    /// ssl-date speaks TLS itself (nselib's tls over a plain socket); its output
    /// depends on the clock, so digits are compared as placeholders.
    @Test func sslDateMatchesNmapInStructure() throws {
        let nginx = try NginxService(title: "ssl-date", port: .httpsLikely, tls: true)
        let r = try both(["--script", "ssl-date", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(r.ours.exitCode == 0, "\(r.ours.stderr)")
        func shape(_ lines: [String]) -> [String] {
            groupedReport(lines).map { line in
                line.hasPrefix("|") ? String(line.map { $0.isNumber ? "#" : $0 }) : line
            }
        }
        let expected = shape(r.expected), actual = shape(r.actual)
        #expect(actual.contains { $0.hasPrefix("|_ssl-date: ") }, "\(r.ours.stdout)\n\(r.ours.stderr)")
        #expect(actual == expected, "nmap:\n\(r.nmap.stdout)\nnsebox:\n\(r.ours.stdout)\n\(r.ours.stderr)")
    }

    @Test(.enabled(if: certificateModuleExists, "Sources/CNSEModules/cert.c (nsebox_cert) has not landed"))
    func sslCertMatchesNmap() throws {
        let nginx = try NginxService(title: "ssl-cert", port: .httpsLikely, tls: true)
        let r = try both(["--script", "ssl-cert", "-p", "\(nginx.port)", "127.0.0.1"])
        #expect(r.ours.exitCode == 0, "\(r.ours.stderr)")
        #expect(r.actual.contains("| ssl-cert: Subject: commonName=\(NginxService.certificateName)/organizationName=nsebox tests"),
                "\(r.ours.stdout)\n\(r.ours.stderr)")
        #expect(groupedReport(fullReport(r.ours.stdout)) == groupedReport(fullReport(r.nmap.stdout)),
                "nmap:\n\(r.nmap.stdout)\nnsebox:\n\(r.ours.stdout)\n\(r.ours.stderr)")
    }

    /// SNI: scanning the target by name makes the broker send that name (nginx then
    /// picks its second certificate); by address, no name is sent (the default one).
    @Test(.enabled(if: certificateModuleExists, "Sources/CNSEModules/cert.c (nsebox_cert) has not landed"))
    func serverNameFollowsTheTargetName() throws {
        let nginx = try NginxService(title: "sni", port: .httpsLikely, tls: true, sniName: "localhost")
        for (target, name) in [("localhost", "localhost, issuer nsebox tests sni"),
                               ("127.0.0.1", "\(NginxService.certificateName), issuer nsebox tests,")] {
            let r = try both(["--script", testScripts("tls"), "-p", "\(nginx.port)", target])
            #expect(r.ours.exitCode == 0, "\(r.ours.stderr)")
            #expect(r.actual.contains { $0.hasPrefix("| certificate: \(name)") }, "\(target): \(r.ours.stdout)")
            #expect(r.actual.contains { $0.hasPrefix("| certificate after STARTTLS: \(name)") }, "\(target): \(r.ours.stdout)")
            #expect(reportDifferences(expected: r.expected, actual: r.actual) == [],
                    "nmap:\n\(r.nmap.stdout)\nnsebox:\n\(r.ours.stdout)\n\(r.ours.stderr)")
        }
    }

    /// Our probe (Tests/nse/tls): an ssl connect, STARTTLS with reconnect_ssl on a
    /// plain connection to the TLS port, get_ssl_certificate without TLS, and the
    /// same calls against a plain-text HTTP port (handshake failures).
    @Test func socketCallsMatchNmap() throws {
        let https = try NginxService(title: "tls sockets", port: .httpsLikely, tls: true)
        let http = try NginxService(title: "plain sockets")
        let r = try both(["--script", testScripts("tls"), "-p", "\(https.port),\(http.port)", "127.0.0.1"])
        #expect(r.ours.exitCode == 0, "\(r.ours.stderr)")
        let blocks = scriptBlocks(r.actual)
        let tlsBlock = blocks.first { $0.key.hasPrefix("\(https.port)/tcp") }?.value.joined() ?? ""
        let plainBlock = blocks.first { $0.key.hasPrefix("\(http.port)/tcp") }?.value.joined() ?? ""
        #expect(tlsBlock.contains("| ssl status: HTTP/1.1 200 OK"), "\(r.ours.stdout)\n\(r.ours.stderr)")
        if certificateModuleExists {
            #expect(tlsBlock.contains("| certificate: \(NginxService.certificateName), issuer nsebox tests, rsa 2048 bits, pem true"),
                    "\(r.ours.stdout)")
        }
        #expect(tlsBlock.contains("| reconnect_ssl: true nil\n"), "\(r.ours.stdout)")
        #expect(tlsBlock.contains("| starttls status: HTTP/1.1 200 OK"), "\(r.ours.stdout)")
        #expect(plainBlock.contains("| ssl connect: nil ERROR"), "\(r.ours.stdout)")
        #expect(plainBlock.contains("| reconnect_ssl: nil ERROR"), "\(r.ours.stdout)")
        #expect(reportDifferences(expected: r.expected, actual: r.actual) == [],
                "nmap:\n\(r.nmap.stdout)\nnsebox:\n\(r.ours.stdout)\n\(r.ours.stderr)")
    }
}
