/// One line of the port table in a host's report.
public struct PortRow: Equatable, Sendable {
    public var port: Int
    public var proto: PortProtocol
    /// "open", "closed", "filtered", "open|filtered", ...
    public var state: String
    /// The service name; nmap prints "unknown" for unlisted ports.
    public var service: String
    /// Why the state was chosen ("syn-ack", "conn-refused"), for `--reason`.
    public var reason: String?
    /// Version detection's text ("nginx 1.22.1"), for the VERSION column.
    public var version: String?

    public init(port: Int, proto: PortProtocol, state: String, service: String, reason: String? = nil,
                version: String? = nil) {
        self.version = version
        self.port = port
        self.proto = proto
        self.state = state
        self.service = service
        self.reason = reason
    }
}

/// The port table as nmap 7.93's normal output prints it: a header line,
/// then one line per row in the order given. Every column but the last is
/// padded with spaces to its widest cell (header included) and columns are
/// separated by one space; lines carry no trailing spaces.
public func formatPortTable(_ rows: [PortRow], showReason: Bool, showVersion: Bool = false) -> [String] {
    var table: [[String]] = [["PORT", "STATE", "SERVICE"] + (showReason ? ["REASON"] : []) + (showVersion ? ["VERSION"] : [])]
    for row in rows {
        table.append(["\(row.port)/\(row.proto.rawValue)", row.state, row.service]
            + (showReason ? [row.reason ?? ""] : []) + (showVersion ? [row.version ?? ""] : []))
    }
    let columns = table[0].count
    let widths = (0..<columns).map { column in table.map { $0[column].count }.max()! }
    return table.map { cells in
        var line = ""
        for (column, cell) in cells.enumerated() {
            if column > 0 { line += " " }
            line += cell
            if column < columns - 1 {
                line += String(repeating: " ", count: widths[column] - cell.count)
            }
        }
        while line.last == " " { line.removeLast() }
        return line
    }
}
