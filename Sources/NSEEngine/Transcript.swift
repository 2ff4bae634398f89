/// The human transcript of script I/O that `--script-trace` prints live and
/// `nsebox audit show` prints from a log: per event a header line naming the
/// instance, and for bytes a hex and text dump, 16 bytes a line.
///
///     NSE: [http-title#4 127.0.0.1:80/tcp] TCP > 127.0.0.1:80 | SEND 18 bytes
///     00000000: 47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a  GET / HTTP/1.1..
public final class Transcript {
    /// (instance, socket) -> (protocol, destination), learnt from connects.
    private var peers: [String: (String, String)] = [:]

    public init() {}

    /// The lines for one record; `fields` as the log has them (bytes in base64).
    public func lines(event: String, instance: String, target: String, fields: [String: String]) -> [String] {
        let who = "NSE: [\(instance)\(target.isEmpty ? "" : " " + target)]"
        let socket = fields["socket"] ?? ""
        let key = instance + "/" + socket
        func peer() -> (String, String) { peers[key] ?? ("TCP", "?") }
        switch event {
        case "start":
            return ["\(who) START \(fields["script_path"] ?? "") (\(fields["rule"] ?? ""), sha256 \(fields["script_sha256"]?.prefix(16) ?? "")…)"]
        case "connect":
            let proto = (fields["protocol"] ?? "tcp").uppercased()
            let destination = fields["destination"] ?? "?"
            peers[key] = (proto, destination)
            return ["\(who) \(proto) > \(destination) | CONNECT \(fields["result"] ?? "")"]
        case "send", "receive", "sendto":
            var (proto, destination) = peer()
            if event == "sendto" { proto = "UDP"; destination = fields["destination"] ?? destination }
            let arrow = event == "receive" ? "<" : ">"
            let data = Self.decodeBase64(fields["data"] ?? "")
            if let result = fields["result"] { return ["\(who) \(proto) \(arrow) \(destination) | RECEIVE \(result)"] }
            return ["\(who) \(proto) \(arrow) \(destination) | \(event == "receive" ? "RECEIVE" : "SEND") \(data.count) bytes"]
                + Self.hexDump(data)
        case "close":
            let (proto, destination) = peer()
            peers[key] = nil
            return ["\(who) \(proto) > \(destination) | CLOSE"]
        case "read":
            return ["\(who) READ \(fields["path"] ?? "") (\(fields["bytes"] ?? "?") bytes)"]
        case "registry":
            return ["\(who) REGISTRY \(fields["scope"] ?? "") (\(fields["bytes"] ?? "?") bytes)"]
        case "denied":
            return ["\(who) DENIED \(fields["what"] ?? "")"]
        case "exit":
            return ["\(who) EXIT \(fields["status"] ?? "") (\(fields["exit"] ?? ""))"
                + (fields["message"].map { ": " + ($0.split(separator: "\n").first.map(String.init) ?? "") } ?? "")]
        case "resolve":
            let addresses = fields["addresses"] ?? ""
            return ["\(who) RESOLVE \(fields["name"] ?? "") -> \(addresses.isEmpty ? "no address" : addresses)"]
        case "tls" where fields["result"].map { $0 != "ok" } ?? false:
            return ["\(who) TLS \(fields["result"] ?? "")"]
        case "tls":
            return ["\(who) TLS \(fields["version"] ?? "") \(fields["cipher"] ?? "")"]
        case "scan", "host":
            return [] // the scan's own records: no script I/O
        case "end":
            return ["NSE: END"]
        default:
            return ["\(who) \(event.uppercased())"]
        }
    }

    /// "00000000: 47 45 54 20 …  GET …", 16 bytes a line, '.' for what is not printable.
    public static func hexDump(_ data: [UInt8]) -> [String] {
        let hex = Array("0123456789abcdef")
        return stride(from: 0, to: data.count, by: 16).map { offset in
            let row = data[offset..<min(offset + 16, data.count)]
            var line = String(String(offset, radix: 16).leftPadded(to: 8)) + ":"
            for b in row { line += " " + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)]) }
            line += String(repeating: "   ", count: 16 - row.count) + "  "
            line += String(row.map { (32...126).contains($0) ? Character(UnicodeScalar($0)) : "." })
            return line
        }
    }

    /// Base64 digit values; 255 for anything else.
    private static let base64Values: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static func decodeBase64(_ text: String) -> [UInt8] {
        let table = base64Values
        var out: [UInt8] = []
        var bits: UInt32 = 0, count = 0
        for c in text.utf8 where table[Int(c)] != 255 {
            bits = bits << 6 | UInt32(table[Int(c)])
            count += 6
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: bits >> UInt32(count)))
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
