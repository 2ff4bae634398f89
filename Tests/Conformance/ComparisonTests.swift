import Testing

/// The suite's comparison rules, on made-up report text (no services, no root).
@Suite("Conformance comparison rules")
struct ComparisonTests {
    @Test func aBlockNmapGaveTwiceMustComeOutVerbatim() {
        let block = ["| ssh-hostkey: ", "|_  256 aa:bb (ED25519)"]
        #expect(compareResult(first: block, second: block, ours: block) == .reproduced)
        #expect(compareResult(first: block, second: block, ours: nil) == .missing)
        #expect(compareResult(first: block, second: block, ours: ["| ssh-hostkey: ", "|_  256 aa:bc (ED25519)"])
                != .reproduced)
    }

    @Test func valuesThatMoveAreComparedByShape() {
        let a = ["| ntp-info: ", "|_  receive time: 2026-11-26T19:00:01"]
        let b = ["| ntp-info: ", "|_  receive time: 2026-11-26T19:00:07"]
        #expect(compareResult(first: a, second: b, ours: ["| ntp-info: ", "|_  receive time: 2026-11-26T19:00:04"]) == .reproduced)
        #expect(compareResult(first: a, second: b, ours: ["| ntp-info: ", "|_  stratum: 2"]) != .reproduced)
    }

    @Test func aSetInAnotherOrderIsTheSameSet() {
        let a = ["| http-feed: ", "|   /a.rss", "|_  /b.rss"]
        let b = ["| http-feed: ", "|   /b.rss", "|_  /a.rss"]
        #expect(compareResult(first: a, second: b, ours: a) == .reproduced)
        #expect(compareResult(first: a, second: b, ours: ["| http-feed: ", "|   /a.rss", "|_  /c.rss"]) != .reproduced)
        #expect(lineStructure("|_  /a.rss") == lineStructure("|   /b.rss"))
    }

    @Test func unsteadyShapesAreAllowedAsOftenAsNmapHasThem() {
        let a = ["| v: ", "|   x: 1", "|   junk1\\x02: 3", "|_  y: 2"]
        let b = ["| v: ", "|   x: 1", "|   junk2\\x01 4: ", "|   y: 2", "|_  y: 3"]
        let oneStranger = ["| v: ", "|   x: 1", "|   junk3\\x05 7 8: 9", "|_  y: 2"]
        let twoStrangers = ["| v: ", "|   other: 1", "|   junk3\\x05 7 8: 9", "|_  y: 2"]
        #expect(compareResult(first: a, second: b, ours: oneStranger) == .reproduced)
        #expect(compareResult(first: a, second: b, ours: twoStrangers) != .reproduced)
    }

    @Test func anotherNmapRunSettlesAnOrderNmapGaveTwice() {
        func report(_ lines: [String]) -> String {
            (["Nmap scan report for 127.0.0.1", "PORT   STATE SERVICE", "80/tcp open  http"] + lines).joined(separator: "\n")
        }
        let nmapOrder = ["| http-feed: ", "|   /a.rss", "|_  /b.rss"]
        let otherOrder = ["| http-feed: ", "|   /b.rss", "|_  /a.rss"]
        var comparison = GroupComparison(name: "t", first: report(nmapOrder), second: report(nmapOrder), ours: report(otherOrder))
        #expect(comparison.disputed == ["80/tcp http-feed"])
        comparison.arbitrate(nmapRun: report(nmapOrder), number: 3)
        #expect(comparison.reproduced.isEmpty && comparison.misses.count == 1)
        comparison.arbitrate(nmapRun: report(otherOrder), number: 4)
        #expect(comparison.reproduced == ["80/tcp http-feed"] && comparison.misses.isEmpty && comparison.disputed.isEmpty)
        #expect(comparison.settled == ["80/tcp http-feed: nmap run 4 gave nsebox's block"])
    }

    @Test func aMeasurementThatRoundsToNothingMayBeAbsentOthersMayNot() {
        func report(_ lines: [String]) -> String {
            (["Nmap scan report for 127.0.0.1", "PORT    STATE SERVICE", "123/udp open  ntp", "", "Host script results:"] + lines)
                .joined(separator: "\n")
        }
        let skew = GroupComparison(name: "t", first: report(["|_clock-skew: 2s"]), second: report(["|_clock-skew: 6s"]),
                                   ours: report([]))
        #expect(skew.reproduced.count == 1 && skew.misses.isEmpty, "\(skew.misses)")
        #expect(skew.settled.count == 1 && skew.settled[0].hasSuffix("clock-skew: no result, as nmap gives when the value it measures rounds to nothing"))
        let other = GroupComparison(name: "t", first: report(["|_ntp-info: x"]), second: report(["|_ntp-info: x"]), ours: report([]))
        #expect(other.reproduced.isEmpty && other.misses.count == 1)
        // The other way round: nmap measured nothing on both runs, nsebox a few seconds.
        let measured = GroupComparison(name: "t", first: report([]), second: report([]), ours: report(["|_clock-skew: 4s"]))
        #expect(measured.unexpected.isEmpty && measured.settled.count == 1, "\(measured.unexpected)")
        let extra = GroupComparison(name: "t", first: report([]), second: report([]), ours: report(["|_ntp-info: x"]))
        #expect(extra.unexpected.count == 1)
    }

    @Test func anErrorOnOneNmapRunMakesAResultUncounted() {
        func report(_ line: String) -> String {
            ["Nmap scan report for 127.0.0.1", "PORT   STATE SERVICE", "3306/tcp open  mysql", line].joined(separator: "\n")
        }
        let error = report("|_mysql-variables: ERROR: Script execution failed (use -d to debug)")
        let output = report("|_mysql-variables: version: 10")
        let comparison = GroupComparison(name: "t", first: output, second: error, ours: report("|_mysql-variables: other"))
        #expect(comparison.flaky == ["3306/tcp mysql-variables"] && comparison.stable.isEmpty && comparison.misses.isEmpty)
        let bothErrors = GroupComparison(name: "t", first: error, second: error, ours: output)
        #expect(bothErrors.stable == ["3306/tcp mysql-variables"] && bothErrors.misses.count == 1)
    }
}
