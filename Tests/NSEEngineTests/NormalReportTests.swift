@testable import NSEEngine
import Glibc
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

@Test func numbersAreRoundedAsPrintfRoundsThem() {
    func printf(_ v: Double, _ decimals: Int) -> String {
        var buf = [CChar](repeating: 0, count: 128)
        _ = withVaList([v]) { vsnprintf(&buf, 128, "%.\(decimals)f", $0) }
        return String(cString: buf)
    }
    // Latencies and elapsed times, exact halves (which round to even), values
    // just beside them, and random doubles across the range worked out here.
    var values: [Double] = [0, 0.000123, 0.00040, 0.125, 0.375, 2.5, 3.5, 0.005, 0.015, 1e-300, 5e-324,
                            0.1, 0.2, 0.3, 1234.5678, 0x1p52 - 1, 0x1p-30, 9.995, 0.0005]
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<3000 {
        let v = Double.random(in: 0..<1, using: &generator) * Double(sign: .plus, exponent: Int.random(in: -40...51, using: &generator), significand: 1)
        values += [v, v.nextUp, v.nextDown]
    }
    for v in values {
        for decimals in 0...18 {
            #expect(NormalReport.fixedPoint(v, decimals: decimals) == printf(v, decimals), "\(v) to \(decimals) places")
        }
    }
    #expect(NormalReport.fixedPoint(0x1p52, decimals: 2) == nil)
    #expect(NormalReport.format2(0x1p60, decimals: 1) == printf(0x1p60, 1))
    #expect(NormalReport.format2(-0.25, decimals: 1) == "-0.2")
}
