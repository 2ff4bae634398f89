import Testing
import NSEScan

@Test func columnsArePaddedToTheWidestCellWithoutTrailingSpaces() {
    let lines = formatPortTable([
        PortRow(port: 8080, proto: .tcp, state: "open", service: "http-proxy"),
        PortRow(port: 20000, proto: .tcp, state: "open", service: "dnp"),
    ], showReason: false)
    #expect(lines == [
        "PORT      STATE SERVICE",
        "8080/tcp  open  http-proxy",
        "20000/tcp open  dnp",
    ])
}

@Test func headerWiderThanEveryCellSetsTheColumnWidth() {
    let lines = formatPortTable([PortRow(port: 7, proto: .udp, state: "open", service: "echo")], showReason: false)
    #expect(lines == ["PORT  STATE SERVICE", "7/udp open  echo"])
}

@Test func reasonColumnComesLastAndOthersArePadded() {
    let lines = formatPortTable([
        PortRow(port: 1, proto: .tcp, state: "closed", service: "tcpmux", reason: "conn-refused"),
        PortRow(port: 22, proto: .tcp, state: "open", service: "ssh", reason: "syn-ack"),
        PortRow(port: 23, proto: .tcp, state: "filtered", service: "telnet", reason: nil),
    ], showReason: true)
    #expect(lines == [
        "PORT   STATE    SERVICE REASON",
        "1/tcp  closed   tcpmux  conn-refused",
        "22/tcp open     ssh     syn-ack",
        "23/tcp filtered telnet",
    ])
}

@Test func emptyTableIsJustTheHeader() {
    #expect(formatPortTable([], showReason: false) == ["PORT STATE SERVICE"])
}

@Test(arguments: [false, true])
func tableMatchesNmapOutputForLoopbackPorts(showReason: Bool) throws {
    let services = try ServiceTable.load(path: NmapOracle.servicesPath)
    let open = try (0..<2).map { _ in try LoopbackSocket(listening: true) }
    let closed = try LoopbackSocket(listening: false)
    closed.close()

    var rows = open.map {
        PortRow(port: $0.port, proto: .tcp, state: "open",
                service: services.displayName(port: $0.port, protocol: .tcp), reason: "syn-ack")
    }
    rows.append(PortRow(port: closed.port, proto: .tcp, state: "closed",
                        service: services.displayName(port: closed.port, protocol: .tcp), reason: "conn-refused"))
    rows.sort { $0.port < $1.port }

    let ports = rows.map { String($0.port) }.joined(separator: ",")
    let output = try NmapOracle.scanLoopback(["-p", ports] + (showReason ? ["--reason"] : []))
    #expect(NmapOracle.portTableLines(output) == formatPortTable(rows, showReason: showReason))
    withExtendedLifetime(open) {}
}
