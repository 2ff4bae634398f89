import Foundation
import Testing

/// Everything after the first line (nmap's "Starting Nmap ...", nsebox's own header).
private func afterStartLine(_ text: String) -> String {
    guard let nl = text.firstIndex(of: "\n") else { return "" }
    return String(text[text.index(after: nl)...])
}

/// The script names a --script-help listing shows, in order.
private func helpNames(_ text: String) -> [String] {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    return lines.indices.dropFirst().filter { lines[$0].hasPrefix("Categories:") }.map { lines[$0 - 1] }
}

/// The scripts nsebox said it could not load ("Failed to load '/x/NAME.nse'." or
/// "Failed to load /x/NAME.nse:").
private func failedToLoad(_ stderr: String) -> Set<String> {
    var out: Set<String> = []
    for line in stderr.split(separator: "\n") {
        guard let r = line.range(of: "Failed to load ") else { continue }
        var path = line[r.upperBound...]
        path = path.drop { $0 == "'" }
        guard let end = path.range(of: ".nse") else { continue }
        let file = path[..<end.lowerBound]
        out.insert(String(file.split(separator: "/").last ?? file))
    }
    return out
}

/// `nsebox --script-help EXPR` against `nmap --script-help EXPR` (neither scans).
@Suite("--script-help and the --script language against nmap")
struct ScriptHelpTests {
    /// Expressions whose every script nsebox's child can load: the help must be the
    /// same bytes. "ftp-* and not brute or http-title" is ftp-* and (not brute or
    /// http-title) in nmap: 7 ftp scripts, no http-title.
    @Test(arguments: [
        "banner,http-title",
        "ftp-* and not brute or http-title",
        "(smtp-* or pop3-*) and NOT (brute OR intrusive)",
        "not default and Version",
        "+banner, smtp-* and not (brute or dos)",
        "dns-* and (safe and not broadcast)",
        "*title*,NOT NOT banner",
    ])
    func helpIsNmapsByteForByte(expression: String) throws {
        let nmap = try runNmap(["--script-help", expression])
        let ours = try runNsebox(["--script-help", expression])
        #expect(nmap.exitCode == 0, "\(nmap)")
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(ours.stdout.hasPrefix("Starting nsebox"), "\(ours.stdout)")
        let expected = afterStartLine(nmap.stdout)
        #expect(!helpNames(expected).isEmpty, "nmap selected nothing: \(nmap)")
        #expect(afterStartLine(ours.stdout) == expected,
                "names: nmap \(helpNames(expected)) nsebox \(helpNames(ours.stdout))\n\(ours.stderr)")
    }

    /// Our own scripts, named by directory: the file system's order, descriptions
    /// as the scripts declare them.
    @Test func helpForADirectoryIsNmaps() throws {
        let dir = testScripts("compare")
        let nmap = try runNmap(["--script-help", dir])
        let ours = try runNsebox(["--script-help", dir])
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(helpNames(nmap.stdout).count >= 5, "\(nmap)")
        #expect(afterStartLine(ours.stdout) == afterStartLine(nmap.stdout), "\(ours.stderr)")
    }

    /// Large boolean selections over the whole script.db: the same scripts in the
    /// same order, except those nsebox's sandboxed child says it cannot load (a
    /// library the child lacks, such as openssl); such a script must be reported.
    @Test(arguments: [
        "default and safe or intrusive",      // default and (safe or intrusive)
        "safe or intrusive and default",      // safe or (intrusive and default)
        "(http-* or ssh-*) and not intrusive",
        "not (broadcast or dos or brute or intrusive or external or exploit or fuzzer or malware or discovery)",
        "DEFAULT",
    ])
    func selectionIsNmapsApartFromScriptsTheChildCannotLoad(expression: String) throws {
        let nmap = try runNmap(["--script-help", expression])
        let ours = try runNsebox(["-d", "--script-help", expression], timeout: 300)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        let expected = helpNames(nmap.stdout)
        let actual = helpNames(ours.stdout)
        let unloadable = failedToLoad(ours.stderr)
        #expect(expected.count > 50, "\(nmap)")
        #expect(actual == expected.filter { !unloadable.contains($0) },
                "missing: \(Set(expected).subtracting(actual).sorted()) extra: \(Set(actual).subtracting(expected).sorted())")
        // Unloadable scripts are the exception, not the rule.
        #expect(actual.count * 10 >= expected.count * 8, "loaded \(actual.count) of \(expected.count)")
    }

    /// A word that matches nothing stops nsebox as it stops nmap: nmap's message,
    /// exit status 1, no script described or run.
    @Test(arguments: ["banner,no-such-script", "default and not default", "HTTP-TITLE", "http-titl?", "banner)"])
    func unmatchedWordIsNmapsErrorAndExitStatus1(spec: String) throws {
        let word = spec.hasPrefix("banner,") ? String(spec.dropFirst(7)) : spec
        let message = "'\(word)' did not match a category, filename, or directory"
        let nmap = try runNmap(["--script-help", spec])
        #expect(nmap.exitCode == 1)
        #expect((nmap.stdout + nmap.stderr).contains(message), "\(nmap)")

        let ours = try runNsebox(["--script-help", spec])
        #expect(ours.exitCode == 1, "\(ours)")
        #expect(ours.stderr.contains(message), "\(ours.stderr)")
        #expect(!ours.stdout.contains("Categories:"), "\(ours.stdout)")

        let scan = try runNsebox(["--script", spec, "-p", "9", "127.0.0.1"])
        #expect(scan.exitCode == 1, "\(scan)")
        #expect(scan.stderr.contains(message), "\(scan.stderr)")
        #expect(!scan.stdout.contains("scan report"), "\(scan.stdout)")
    }

    @Test func directoryWithoutTrailingSlashIsNmapsError() throws {
        var dir = testScripts("compare")
        dir.removeLast()
        let message = "directory '\(dir)' found, but will not match without '/'"
        let nmap = try runNmap(["--script-help", dir])
        #expect(nmap.exitCode == 1)
        #expect((nmap.stdout + nmap.stderr).contains(message), "\(nmap)")
        let ours = try runNsebox(["--script-help", dir])
        #expect(ours.exitCode == 1, "\(ours)")
        #expect(ours.stderr.contains(message), "\(ours.stderr)")
    }
}
