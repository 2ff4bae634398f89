import Foundation
import Testing

/// Lua 5.3 compatibility in the child (bit32, zlib as nmap has them) and the
/// `nsebox compat` corpus report.
@Suite("Lua 5.3 compatibility and nsebox compat")
struct CompatTests {
    /// zlib (compress, decompress, checksums, gzip and deflate streams) and bit32 on
    /// edge values print the same in nmap 7.93 and in nsebox.
    @Test func zlibAndBit32MatchNmap() throws {
        let args = ["--script", testScripts("compat") + "zlib-bit32.nse", "-p", "1", "127.0.0.1"]
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args)
        let ours = try runNsebox(["-sT", "-Pn", "-n"] + args)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = reportBody(nmap.stdout)
        let actual = reportBody(ours.stdout)
        // The comparison must be about something: the script ran to its end in both.
        for body in [expected, actual] {
            #expect(body.contains("| zlib-bit32: globals: bit32=table zlib=table same=true"), "\(body)")
            #expect(body.contains("| gzip lines: \"line one\", \"line two\", \"\", \"last line without newline\""), "\(body)")
            #expect(body.contains("| lrotate(0x80000001, 1) = 3, rrotate(1, 1) = 2147483648, lrotate(1, -1) = 2147483648, lrotate(5, 64) = 5"), "\(body)")
            #expect(body.contains { $0.hasPrefix("|_band(1.5): error") }, "\(body)")
        }
        #expect(reportDifferences(expected: expected, actual: actual) == [],
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// One line per script, in order, then the summary; `nsebox compat` is the
    /// subcommand, not a target named "compat".
    @Test func compatReportsRulesOfNamedScripts() throws {
        let ours = try runNsebox(["compat", "banner", "http-title", "ssh-hostkey"])
        #expect(ours.exitCode == 0, "\(ours)")
        let lines = ours.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            "banner: loads, rules evaluate (portrule(80/tcp)=true portrule(53/udp)=false)",
            "http-title: loads, rules evaluate (portrule(80/tcp)=true portrule(53/udp)=false)",
            "ssh-hostkey: loads, rules evaluate (portrule(80/tcp)=false portrule(53/udp)=false postrule=false)",
            "3 of 3 scripts load, 7 of 7 rules evaluate without error",
        ], "\(ours)")
        #expect(!ours.stdout.contains("Nmap scan report"))
    }

    /// A script that does not compile is reported with Lua's message (file and
    /// line), the others still run, and the markdown groups the failure.
    @Test func compatReportsASyntaxError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-compat-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("broken-syntax.nse")
        try Data("""
            description = "does not compile"
            categories = {"safe"}
            portrule = function() return true end
            action = function( return "never" end
            """.utf8).write(to: script)
        let markdown = dir.appendingPathComponent("compat.md")
        let ours = try runNsebox(["compat", script.path, "banner", "--markdown", markdown.path])
        #expect(ours.exitCode == 0, "\(ours)")
        let lines = ours.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("broken-syntax: ERROR \(script.path):4: <name> or '...' expected near 'return'"), "\(ours)")
        #expect(lines.contains("banner: loads, rules evaluate (portrule(80/tcp)=true portrule(53/udp)=false)"), "\(ours)")
        #expect(lines.last == "1 of 2 scripts load, 2 of 2 rules evaluate without error", "\(ours)")
        let report = try String(contentsOf: markdown, encoding: .utf8)
        #expect(report.contains("## Scripts that do not load (1)"), "\(report)")
        #expect(report.contains("does not compile in Lua 5.4"), "\(report)")
        #expect(report.contains("compat \(script.path) banner --markdown \(markdown.path)"), "\(report)")
    }

    /// A rule that raises an error is reported as such, with the rule's name.
    @Test func compatReportsARuleError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-compat-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("rule-error.nse")
        try Data("""
            description = "a hostrule that fails"
            categories = {"safe"}
            hostrule = function(host) return host.ip == "127.0.0.1" end
            portrule = function(host, port)
              if port.protocol == "udp" then error("no udp here") end
              return port.number == 80 and SCRIPT_TYPE == "portrule"
            end
            action = function() return "x" end
            """.utf8).write(to: script)
        let ours = try runNsebox(["compat", script.path])
        let lines = ours.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            "rule-error: ERROR in portrule(53/udp): \(script.path):5: no udp here",
            "1 of 1 scripts load, 2 of 3 rules evaluate without error",
        ], "\(ours)")
    }
}
