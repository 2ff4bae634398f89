import Foundation
import Testing

/// nselib's own unit tests, run by nmap's unittest script inside the sandbox.
@Suite("nselib unit tests")
struct NselibUnitTests {
    @Test func unittestScriptPassesAsUnderNmap() throws {
        let args = ["-d", "--script", "unittest", "--script-args", "unittest.run", "-p", "1", "127.0.0.1"]
        let ours = try runNsebox(args, timeout: 300)
        #expect(ours.exitCode == 0, "\(ours.stderr)")
        #expect(ours.stdout.contains("|_unittest: All tests passed"), "\(ours.stdout)\n\(ours.stderr)")
        // Every library nmap tests, nsebox tests with the same counts; the only
        // extra lines allowed are for the C module nsebox does not provide (pcre).
        let nmap = try runNmap(args, timeout: 300)
        func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init).filter { $0.contains("[unittest]") } }
        let notYet = ["Failed to load pcre"]
        let ourLines = lines(ours.stdout).filter { line in !notYet.contains { line.contains($0) } }
        #expect(ourLines == lines(nmap.stdout), "nmap:\n\(lines(nmap.stdout).joined(separator: "\n"))\nnsebox:\n\(ourLines.joined(separator: "\n"))")
        #expect(lines(nmap.stdout).filter { $0.contains("tests passed") }.count > 20)
    }
}
