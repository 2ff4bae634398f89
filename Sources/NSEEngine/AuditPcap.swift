import Glibc

/// `nsebox audit pcap`: an audit log's conversations as synthesized packets in a
/// pcapng file (link type RAW: IPv4 or IPv6 packets). A TCP conversation gets a
/// handshake, its sends and receives as segments with consistent sequence
/// numbers (1400 bytes at most each), and a close; UDP sends and receives are
/// datagrams. Every packet carries a comment naming its script instance.
/// TLS conversations appear as the broker saw them: decrypted.
public enum AuditPcap {
    struct Endpoint { var ip: [UInt8]; var port: UInt16 }

    /// One conversation's state: who talks, and the next sequence numbers.
    struct Flow {
        var client: Endpoint, server: Endpoint
        var udp: Bool
        var clientSeq: UInt32, serverSeq: UInt32
        var comment: String
    }

    /// Builds the file from the log's records (parsed with `AuditRecord`).
    public static func pcapng(_ records: [[String: String]]) -> [UInt8] {
        var out = sectionHeader() + interfaceDescription(linkType: 101) + interfaceDescription(linkType: 1)
        var flows: [String: Flow] = [:]
        var isn: UInt32 = 0x1000_0000
        for r in records {
            let key = (r["instance"] ?? "") + "/" + (r["socket"] ?? "")
            let time = microseconds(r["ts"] ?? "")
            let comment = "\(r["instance"] ?? "") (\(r["script"] ?? ""))"
            switch r["event"] {
            case "connect":
                guard r["result"] == "ok", let server = endpoint(r["destination"] ?? ""),
                      let client = endpoint(r["source"] ?? "") else { continue }
                isn &+= 0x0101_0101
                var f = Flow(client: client, server: server, udp: r["protocol"] == "udp", clientSeq: isn, serverSeq: ~isn,
                             comment: comment)
                if !f.udp {
                    out += packet(&f, fromClient: true, flags: 0x02, payload: [], time: time, advance: 1)   // SYN
                    out += packet(&f, fromClient: false, flags: 0x12, payload: [], time: time, advance: 1)  // SYN-ACK
                    out += packet(&f, fromClient: true, flags: 0x10, payload: [], time: time, advance: 0)   // ACK
                }
                flows[key] = f
            case "send", "receive":
                guard var f = flows[key] else { continue }
                let data = Transcript.decodeBase64(r["data"] ?? "")
                let fromClient = r["event"] == "send"
                if f.udp {
                    out += packet(&f, fromClient: fromClient, flags: 0, payload: data[...], time: time, advance: 0)
                } else {
                    var offset = 0
                    repeat {
                        let piece = data[offset..<min(offset + 1400, data.count)]
                        out += packet(&f, fromClient: fromClient, flags: 0x18, payload: piece, time: time,
                                      advance: UInt32(piece.count))
                        offset += piece.count
                    } while offset < data.count
                }
                flows[key] = f
            case "close":
                guard var f = flows[key] else { continue }
                if !f.udp {
                    out += packet(&f, fromClient: true, flags: 0x11, payload: [], time: time, advance: 1)   // FIN-ACK
                    out += packet(&f, fromClient: false, flags: 0x11, payload: [], time: time, advance: 1)
                    out += packet(&f, fromClient: true, flags: 0x10, payload: [], time: time, advance: 0)
                }
                flows[key] = nil
            case "sendto":
                guard let server = endpoint(r["destination"] ?? "") else { continue }
                var f = Flow(client: Endpoint(ip: server.ip.count == 4 ? [127, 0, 0, 1] : Array(repeating: 0, count: 15) + [1],
                                              port: 40000),
                             server: server, udp: true, clientSeq: 0, serverSeq: 0, comment: comment)
                out += packet(&f, fromClient: true, flags: 0, payload: Transcript.decodeBase64(r["data"] ?? "")[...], time: time, advance: 0)
            case "raw_send":
                // Raw frames as the script made them: IP packets on interface 0, Ethernet frames on 1.
                let data = Transcript.decodeBase64(r["data"] ?? "")
                out += enhancedPacket(data, time: time, comment: comment + " raw send", interface: r["kind"] == "ethernet" ? 1 : 0)
            case "packet":
                // A captured packet handed to the script, with its link header when it had one.
                let data = Transcript.decodeBase64(r["data"] ?? "")
                let header = Int(r["link_header"] ?? "") ?? 0
                if header == 14 {
                    out += enhancedPacket(data, time: time, comment: comment + " captured", interface: 1)
                } else {
                    out += enhancedPacket(Array(data.dropFirst(min(header, data.count))), time: time,
                                          comment: comment + " captured", interface: 0)
                }
            default:
                continue
            }
        }
        return out
    }

    /// "127.0.0.1:80" or "[::1]:80".
    static func endpoint(_ text: String) -> Endpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.contains(":") {
            var a = in6_addr()
            guard inet_pton(AF_INET6, host, &a) == 1 else { return nil }
            return Endpoint(ip: withUnsafeBytes(of: a) { Array($0) }, port: port)
        }
        var a = in_addr()
        guard inet_pton(AF_INET, host, &a) == 1 else { return nil }
        return Endpoint(ip: withUnsafeBytes(of: a) { Array($0) }, port: port)
    }

    /// An Enhanced Packet Block with one IP packet of `f`, then `advance` added to
    /// the sender's sequence number.
    static func packet(_ f: inout Flow, fromClient: Bool, flags: UInt8, payload: ArraySlice<UInt8>, time: UInt64,
                       advance: UInt32) -> [UInt8] {
        let (src, dst) = fromClient ? (f.client, f.server) : (f.server, f.client)
        var transport: [UInt8]
        if f.udp {
            transport = be16(src.port) + be16(dst.port) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
        } else {
            let (seq, ack) = fromClient ? (f.clientSeq, f.serverSeq) : (f.serverSeq, f.clientSeq)
            transport = be16(src.port) + be16(dst.port) + be32(seq) + be32(flags == 0x02 ? 0 : ack)
                + [0x50, flags] + be16(65535) + [0, 0, 0, 0] + payload
            if fromClient { f.clientSeq &+= advance } else { f.serverSeq &+= advance }
        }
        let proto: UInt8 = f.udp ? 17 : 6
        let checksumAt = f.udp ? 6 : 16
        let sum = checksum(pseudoHeader(src.ip, dst.ip, proto, transport.count) + transport)
        transport[checksumAt] = UInt8(sum >> 8)
        transport[checksumAt + 1] = UInt8(sum & 0xff)
        let ip: [UInt8]
        if src.ip.count == 4 {
            var header: [UInt8] = [0x45, 0] + be16(UInt16(20 + transport.count)) + [0, 0, 0x40, 0, 64, proto, 0, 0]
                + src.ip + dst.ip
            let h = checksum(header)
            header[10] = UInt8(h >> 8)
            header[11] = UInt8(h & 0xff)
            ip = header + transport
        } else {
            ip = [0x60, 0, 0, 0] + be16(UInt16(transport.count)) + [proto, 64] + src.ip + dst.ip + transport
        }
        return enhancedPacket(ip, time: time, comment: f.comment)
    }

    static func pseudoHeader(_ src: [UInt8], _ dst: [UInt8], _ proto: UInt8, _ length: Int) -> [UInt8] {
        src.count == 4
            ? src + dst + [0, proto] + be16(UInt16(length))
            : src + dst + be32(UInt32(length)) + [0, 0, 0, proto]
    }

    /// The Internet checksum (RFC 1071).
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < bytes.count { sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1]); i += 2 }
        if i < bytes.count { sum += UInt32(bytes[i]) << 8 }
        while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    // MARK: pcapng blocks (little-endian)

    static func sectionHeader() -> [UInt8] {
        block(0x0A0D_0D0A, le32(0x1A2B_3C4D) + le16(1) + le16(0) + [UInt8](repeating: 0xff, count: 8))
    }

    /// Interface 0 is LINKTYPE_RAW (101: IP packets), 1 is LINKTYPE_ETHERNET (1);
    /// microsecond timestamps.
    static func interfaceDescription(linkType: UInt16) -> [UInt8] {
        block(1, le16(linkType) + le16(0) + le32(262_144))
    }

    static func enhancedPacket(_ data: [UInt8], time: UInt64, comment: String, interface: UInt32 = 0) -> [UInt8] {
        var body = le32(interface) + le32(UInt32(time >> 32)) + le32(UInt32(time & 0xffff_ffff))
            + le32(UInt32(data.count)) + le32(UInt32(data.count)) + padded(data)
        let text = Array(comment.utf8)
        body += le16(1) + le16(UInt16(text.count)) + padded(text) + le16(0) + le16(0)  // opt_comment, opt_endofopt
        return block(6, body)
    }

    static func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
        let length = UInt32(12 + body.count)
        return le32(type) + le32(length) + body + le32(length)
    }

    static func padded(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: (4 - b.count % 4) % 4) }
    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xff) } }
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { (0..<4).reversed().map { UInt8((v >> (8 * $0)) & 0xff) } }

    /// Microseconds since the epoch of "2026-11-26T20:56:15.908859Z".
    static func microseconds(_ ts: String) -> UInt64 {
        let parts = ts.split(whereSeparator: { "-T:.Z".contains($0) }).compactMap { Int($0) }
        guard parts.count >= 7 else { return 0 }
        var tm = Glibc.tm()
        tm.tm_year = Int32(parts[0] - 1900); tm.tm_mon = Int32(parts[1] - 1); tm.tm_mday = Int32(parts[2])
        tm.tm_hour = Int32(parts[3]); tm.tm_min = Int32(parts[4]); tm.tm_sec = Int32(parts[5])
        return UInt64(max(0, timegm(&tm))) * 1_000_000 + UInt64(parts[6])
    }
}
