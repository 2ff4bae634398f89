@testable import NSEEngine
import Testing

/// A script's output in the normal report: printable ASCII, tabs and newlines as
/// they are, every other byte as \xNN, as nmap shows them.
@Test func scriptOutputKeepsPrintableBytesAndEscapesTheRest() {
    let plain = ScriptResult(id: "s", output: Array("one\ttwo\nthree\n".utf8), structured: nil)
    #expect(NormalReport.scriptLines(plain) == ["| s: one\ttwo", "|_three"])
    let odd = ScriptResult(id: "s", output: [0x41, 0x01, 0xFF, 0x0D, 0x7F, 0x42], structured: nil)
    #expect(NormalReport.scriptLines(odd) == ["|_s: A\\x01\\xFF\\x0D\\x7FB"])
    #expect(NormalReport.scriptLines(ScriptResult(id: "s", output: [], structured: nil)) == ["|_s: "])
}
