import Testing
import Foundation
import NSEScan

private let realServices = Result { try ServiceTable.load(path: NmapOracle.servicesPath) }

@Test func realServicesFileNamesWellKnownPorts() throws {
    let table = try realServices.get()
    #expect(table.name(port: 80, protocol: .tcp) == "http")
    #expect(table.name(port: 8080, protocol: .tcp) == "http-proxy")
    #expect(table.name(port: 20000, protocol: .tcp) == "dnp")
    #expect(table.name(port: 53, protocol: .udp) == "domain")
    #expect(table.name(port: 22, protocol: .tcp) == "ssh")
}

@Test func unlistedPortHasNoNameAndDisplaysAsUnknown() throws {
    let table = ServiceTable(parsing: "http 80/tcp 0.48\n")
    #expect(table.name(port: 81, protocol: .tcp) == nil)
    #expect(table.name(port: 80, protocol: .udp) == nil)
    #expect(table.displayName(port: 81, protocol: .tcp) == "unknown")
    #expect(table.displayName(port: 80, protocol: .tcp) == "http")
}

@Test func commentsBlankLinesSctpAndMalformedLinesAreSkipped() {
    let text = """
    # a comment line
    
    echo\t7/tcp\t0.004855\t# Echo
    echo\t7/sctp\t0.000000
    broken
    badport\t70000/tcp\t0.1
    badproto\t9/icmp\t0.1
    badfreq\t10/tcp\tlots
    nofreq\t11/udp
    domain\t53/udp\t0.213496\t# Domain Name Server
    """
    let table = ServiceTable(parsing: text)
    #expect(table.entries.map(\.name) == ["echo", "nofreq", "domain"])
    #expect(table.name(port: 7, protocol: .tcp) == "echo")
    #expect(table.name(port: 11, protocol: .udp) == "nofreq")
}

@Test func missingServicesFileIsAClearError() {
    #expect {
        try ServiceTable.load(path: "/nonexistent/nmap-services")
    } throws: { error in
        (error as? SpecError)?.message.contains("/nonexistent/nmap-services") == true
    }
}

@Test func globsMatchServiceNamesCaseInsensitively() {
    let table = ServiceTable(parsing: """
    http 80/tcp 0.4
    http-proxy 8080/tcp 0.04
    https 443/tcp 0.2
    ssh 22/tcp 0.18
    http 80/udp 0.001
    """)
    #expect(table.ports(named: "http", protocol: .tcp) == [80])
    #expect(table.ports(named: "http*", protocol: .tcp) == [80, 443, 8080])
    #expect(table.ports(named: "HTTP?", protocol: .tcp) == [443])
    #expect(table.ports(named: "*s*", protocol: .tcp) == [22, 443])
    #expect(table.ports(named: "http*", protocol: .udp) == [80])
    #expect(table.ports(named: "ftp", protocol: .tcp) == [])
}

@Test func topPortsRankByFrequencyThenPortAndReturnAscending() {
    let table = ServiceTable(parsing: """
    a 9/udp 0.5
    b 3/udp 0.1
    c 7/udp 0.1
    d 5/udp 0.1
    e 1/udp 0.9
    f 2/tcp 0.99
    """)
    #expect(table.topPorts(1, protocol: .udp) == [1])
    #expect(table.topPorts(2, protocol: .udp) == [1, 9])
    #expect(table.topPorts(3, protocol: .udp) == [1, 3, 9])
    #expect(table.topPorts(4, protocol: .udp) == [1, 3, 5, 9])
    #expect(table.topPorts(99, protocol: .udp) == [1, 3, 5, 7, 9])
    #expect(table.topPorts(0, protocol: .udp) == [])
}

@Test(arguments: [1000, 100, 10])
func topTCPPortsMatchWhatNmapScans(count: Int) throws {
    let table = try realServices.get()
    let nmapPorts = try NmapOracle.scannedTCPPorts(["--top-ports", "\(count)"])
    #expect(nmapPorts.count == count)
    #expect(table.topPorts(count, protocol: .tcp) == nmapPorts)
}

@Test func dataFileSearchFollowsNmapOrder() throws {
    let root = FileManager.default.temporaryDirectory
        .appendingPathComponent("nsescan-datafiles-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    for directory in ["datadir", "nmapdir", "home/.nmap"] {
        try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(root)/\(directory)/nmap-services", contents: Data())
    }
    let environment = ["NMAPDIR": "\(root)/nmapdir", "HOME": "\(root)/home"]
    let locate = { (datadir: String?, env: [String: String]) in
        ServiceTable.locateDataFile("nmap-services", datadir: datadir, environment: env)
    }
    #expect(locate("\(root)/datadir", environment) == "\(root)/datadir/nmap-services")
    #expect(locate(nil, environment) == "\(root)/nmapdir/nmap-services")
    #expect(locate("\(root)/empty", ["HOME": "\(root)/home"]) == "\(root)/home/.nmap/nmap-services")
    #expect(locate(nil, [:]) == "/usr/share/nmap/nmap-services")
    #expect(ServiceTable.locateDataFile("no-such-data-file", datadir: nil, environment: environment) == nil)
}

@Test func frequenciesAreTheNumbersStrtodReads() {
    // nmap's own format (digits, a point, digits) and others a file could hold:
    // each must come out as the very double the C library reads from it.
    var spellings = ["0.484143", "0.000000", "1.000000", "5.", ".25", "007.5", "123456789012345",
                     "1234567890123456789", "0.1234567890123456789", "1e-3", "2.5E2", "0x1p-2", "0.3",
                     "0.00000000000000000000001", "9007199254740993"]
    var generator = SystemRandomNumberGenerator()
    for _ in 0..<2000 {
        let fraction = String(UInt64.random(in: 0...999_999, using: &generator))
        spellings.append("\(UInt32.random(in: 0...9, using: &generator))." + String(repeating: "0", count: 6 - fraction.count) + fraction)
    }
    let text = spellings.enumerated().map { "s\($0.offset) \($0.offset + 1)/tcp \($0.element)" }.joined(separator: "\n")
    let entries = ServiceTable(parsing: text).entries
    #expect(entries.count == spellings.count)
    for (entry, spelling) in zip(entries, spellings) {
        #expect(entry.frequency.bitPattern == strtod(spelling, nil).bitPattern, "\(spelling)")
    }
}
