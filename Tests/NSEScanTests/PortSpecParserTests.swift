import Testing
import NSEScan

private let services = ServiceTable(parsing: """
ssh 22/tcp 0.18
ssh 22/udp 0.0007
domain 53/tcp 0.04
domain 53/udp 0.21
http 80/tcp 0.48
http 80/udp 0.0005
http-proxy 8080/tcp 0.04
https 443/tcp 0.2
snmp 161/udp 0.43
""")

private func parse(_ spec: String, tcp: Bool = true, udp: Bool = false) throws -> PortSelection {
    try PortSpecParser(services: services).parse(spec, scanTCP: tcp, scanUDP: udp)
}

/// The message of the error `spec` raises, or nil if it parses.
private func errorMessage(_ spec: String, tcp: Bool = true, udp: Bool = false) -> String? {
    do {
        _ = try parse(spec, tcp: tcp, udp: udp)
        return nil
    } catch {
        return (error as? SpecError)?.message
    }
}

@Test func singlePortsAndRangesAreSortedAndDistinct() throws {
    #expect(try parse("22") == PortSelection(tcp: [22], udp: []))
    #expect(try parse("85-90,22,88,22") == PortSelection(tcp: [22, 85, 86, 87, 88, 89, 90], udp: []))
}

@Test func openEndedRangesStartAtOneAndEndAt65535() throws {
    #expect(try parse("-").tcp == Array(1...65535))
    #expect(try parse("-100").tcp == Array(1...100))
    #expect(try parse("60000-").tcp == Array(60000...65535))
}

@Test func portZeroOnlyWhenWrittenExplicitly() throws {
    #expect(try parse("0").tcp == [0])
    #expect(try parse("0-2").tcp == [0, 1, 2])
    #expect(try parse("-2").tcp == [1, 2])
}

@Test func unprefixedPortsGoToEveryScannedProtocol() throws {
    #expect(try parse("22", tcp: true, udp: true) == PortSelection(tcp: [22], udp: [22]))
    #expect(try parse("53", tcp: false, udp: true) == PortSelection(tcp: [], udp: [53]))
    #expect(try parse("53", tcp: false, udp: false) == PortSelection(tcp: [53], udp: []))
}

@Test func prefixesApplyUntilTheNextPrefix() throws {
    #expect(try parse("T:22,80,U:53,161", tcp: true, udp: true) ==
        PortSelection(tcp: [22, 80], udp: [53, 161]))
    #expect(try parse("1,U:2,T:3", tcp: true, udp: true) == PortSelection(tcp: [1, 3], udp: [1, 2]))
    #expect(try parse("U:53", tcp: true, udp: false) == PortSelection(tcp: [], udp: [53]))
}

@Test func serviceNamesAreLookedUpForTheScannedProtocols() throws {
    #expect(try parse("http") == PortSelection(tcp: [80], udp: []))
    #expect(try parse("http*,ssh") == PortSelection(tcp: [22, 80, 443, 8080], udp: []))
    #expect(try parse("domain", tcp: true, udp: true) == PortSelection(tcp: [53], udp: [53]))
    #expect(try parse("snmp", tcp: true, udp: true) == PortSelection(tcp: [], udp: [161]))
    #expect(try parse("U:snmp,T:http-proxy", tcp: true, udp: true) == PortSelection(tcp: [8080], udp: [161]))
}

@Test func aTrailingCommaIsToleratedAsNmapDoes() throws {
    #expect(try parse("22,").tcp == [22])
}

@Test func serviceNamesNeedATable() {
    #expect(throws: SpecError.self) {
        try PortSpecParser(services: nil).parse("http", scanTCP: true, scanUDP: false)
    }
    #expect((try? PortSpecParser(services: nil).parse("22", scanTCP: true, scanUDP: false))?.tcp == [22])
}

@Test(arguments: [
    ("70000", "70000"),
    ("1-65536", "65536"),
    ("99999999999999999999999", "99999999999999999999999"),
    ("90-80", "90-80"),
    ("", "empty"),
    ("abc,", "abc"),
    ("22,abc", "abc"),
    ("snmp", "snmp"),
    ("22x", "22x"),
    ("1-2-3", "1-2-3"),
    ("22,,80", "22,,80"),
    (",22", ",22"),
    ("T:", "T:"),
    ("22, 80", "22, 80"),
    ("X:80", "X:"),
    ("[1-100]", "[1-100]"),
])
func badPortSpecIsRejectedNamingTheBadText(spec: String, piece: String) {
    let message = errorMessage(spec)
    #expect(message?.contains(piece) == true, "got \(message ?? "no error")")
}

@Test func sctpPrefixIsRejectedAsUnsupported() {
    #expect(errorMessage("S:80")?.contains("SCTP is not supported") == true)
    #expect(errorMessage("T:22,S:80")?.contains("SCTP is not supported") == true)
}

@Test(arguments: ["22,80-90", "-100", "http*", "ssh,T:http", "65530-", "0,1", "T:22,U:53", "22,", "domain"])
func tcpPortsMatchWhatNmapScans(spec: String) throws {
    let table = try ServiceTable.load(path: NmapOracle.servicesPath)
    let ours = try PortSpecParser(services: table).parse(spec, scanTCP: true, scanUDP: false)
    #expect(ours.tcp == (try NmapOracle.scannedTCPPorts(["-p", spec])))
}
