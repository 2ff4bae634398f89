import Foundation
import Testing

/// The repository's Tests/nse/NAME/ directory of our own test scripts.
func testScripts(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("nse/\(name)").path + "/"
}

/// nsebox and nmap 7.93, run on the same loopback services in the same test,
/// must print the same report (script blocks under a port in any order).
@Suite("nsebox against nmap")
struct NmapComparisonTests {
    @Test func bannerAndHttpTitleMatchNmap() throws {
        let title = "nsebox comparison \(UUID().uuidString.prefix(6))"
        let nginx = try NginxService(title: title, port: .httpLikely)
        let ssh = try SSHService()
        let closed = try ClosedPort()
        let args = ["--script", "banner,http-title", "-p", "\(nginx.port),\(ssh.port),\(closed.port)", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        #expect(actual.contains("|_http-title: \(title)"), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual.contains { $0.hasPrefix("|_banner: SSH-2.0-OpenSSH") }, "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("\(closed.port)/tcp") && $0.contains("closed") })
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// Our own scripts probe what a user can see of the engine: structured and
    /// multi-line output, errors, new_try, false rules, host and port tables, socket
    /// return conventions, close after each kind of use, worker threads with a
    /// mutex and a condition variable.
    @Test func engineBehavioursMatchNmap() throws {
        let nginx = try NginxService(title: "engine behaviours", port: .httpLikely)
        let closed = try ClosedPort()
        let args = ["--script", testScripts("compare"), "-p", "\(nginx.port),\(closed.port)", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        // The comparison must be about something: the scripts did run.
        #expect(actual.contains("|_failing: ERROR: Script execution failed (use -d to debug)"), "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("|_tables: script=tables type=portrule") }, "\(ours.stdout)")
        #expect(actual.contains { $0.hasPrefix("|_threads: 4 workers: HTTP/1.1 200 OK") }, "\(ours.stdout)")
        #expect(actual.contains("| sockets: connect: true"), "\(ours.stdout)")
        // close is answered by the child (closeAnswered); nmap's answers are the oracle.
        #expect(actual.contains("| close after refused: true"), "\(ours.stdout)")
        #expect(actual.contains("| source: 127.0.0.1 true"), "bind: \(ours.stdout)")
        #expect(!actual.contains { $0.contains("should not appear") || $0.contains("not reached") })
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    @Test func badTargetOrPortSpecIsAClearErrorAndNothingRuns() throws {
        let badPort = try runNsebox(["--script", "banner", "-p", "90-80", "127.0.0.1"])
        #expect(badPort.exitCode == 1)
        #expect(badPort.stderr.contains("90-80"), "\(badPort.stderr)")
        #expect(!badPort.stdout.contains("Nmap scan report"))

        let badTarget = try runNsebox(["--script", "banner", "-p", "22", "127.0.0.999"])
        #expect(badTarget.exitCode == 1)
        #expect(badTarget.stderr.contains("127.0.0.999"), "\(badTarget.stderr)")

        let badScript = try runNsebox(["--script", "no-such-script-xyz", "-p", "22", "127.0.0.1"])
        #expect(badScript.exitCode == 1)
        #expect(badScript.stderr.contains("'no-such-script-xyz' did not match a category, filename, or directory"),
                "\(badScript.stderr)")
    }
}

/// nmap's own scripts built on coroutine libraries (httpspider's crawler threads,
/// http pipelining, brute's engine) against a small site.
@Suite("nmap's coroutine-based libraries")
struct CoroutineLibraryTests {
    @Test func spiderPipelineAndBruteScriptsMatchNmap() throws {
        let nginx = try NginxService(title: "crawl me", files: [
            "index.html": "<html><head><title>crawl me</title></head><body><!-- note for the comments script -->"
                + "<a href=\"/a.html\">a</a> <a href=\"/dir/b.html\">b</a> <a href=\"/missing.html\">gone</a></body></html>",
            "a.html": "<html><body><a href=\"/index.html\">home</a><!-- second comment --></body></html>",
            "dir/b.html": "<html><body>b page with user@example.com</body></html>",
        ], port: .httpLikely)
        // (http-comments-displayer is left out: the order of its pages follows the crawl, in nmap too.)
        let scripts = "http-sitemap-generator,http-errors,http-grep,http-enum,http-brute,http-title,http-methods"
        let args = ["--script", scripts, "--script-args", "http-brute.path=/,brute.firstonly=true,unpwdb.timelimit=5s",
                    "-p", "\(nginx.port)", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(["--policy", "permissive"] + args)  // http-brute is not a default or safe script
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        #expect(actual.contains("| http-grep: "), "\(ours.stdout)\n\(ours.stderr)")
        #expect(actual.contains { $0.contains("/dir/b.html") && $0.contains("http://127.0.0.1") }, "\(ours.stdout)")
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }
}
