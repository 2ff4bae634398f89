import NSEBroker
import NSEScan

/// A host as the recorded scan found it (the audit log's `host` record).
public struct RecordedHost: Sendable {
    public var target: ScanTarget
    public var latency: Double?
    public var ports: [PortReport]
    /// Added by a script (nmap.add_targets), not named on the command line.
    public var added: Bool
    /// `host.times` as the recorded scan had it (nmap's initial estimate for a
    /// log written before nsebox recorded it).
    public var times = HostTimes()
}

/// What `nsebox replay` needs from an audit log: the command line, the port scan's
/// result, and every instance's seed and socket conversations.
public struct RecordedScan {
    public var arguments: [String]
    public var hosts: [RecordedHost]
    public var recording: Recording

    /// Reads parsed records (`AuditRecord.parse`). A log without a `scan` record
    /// (not written by this nsebox, or cut short) is an error saying so.
    public init(records: [[String: String]]) throws {
        guard let scan = records.first(where: { $0["event"] == "scan" }) else {
            throw SpecError("the log has no scan record: it was not written by an nsebox that can replay it")
        }
        arguments = AuditRecord.list(scan["arguments"])
        hosts = []
        var instances: [String: Recording.Instance] = [:]
        var order: [String] = []
        /// Per instance and socket: the conversation under way, if the socket is open.
        var open: [String: Int] = [:]
        for r in records {
            let label = r["instance"] ?? "", event = r["event"] ?? ""
            if event == "host" {
                hosts.append(try Self.host(r))
                continue
            }
            if event == "start" && r["rule"] == "compile" { continue } // the broker's compile jobs
            if event == "start" {
                instances[label] = Recording.Instance(
                    label: label, script: r["script"] ?? "", rule: r["rule"] ?? "", target: r["target"] ?? "",
                    scriptSHA256: r["script_sha256"] ?? "", seed: Self.unhex(r["random_seed"] ?? ""))
                order.append(label)
                continue
            }
            guard var instance = instances[label] else { continue }
            defer { instances[label] = instance }
            if event == "resolve" {
                let addresses = (r["addresses"] ?? "").split(separator: " ").map(String.init)
                instance.resolves.append(Recording.Resolve(name: r["name"] ?? "", family: r["family"] ?? "", addresses: addresses))
                continue
            }
            guard let socket = Int64(r["socket"] ?? ""), let e = Self.event(r) else { continue }
            let key = label + "/" + String(socket)
            switch e {
            case .connect(_, _, _, let result):
                instance.conversations.append(Recording.Conversation(socket: socket, events: [e]))
                open[key] = result == "ok" ? instance.conversations.count - 1 : nil
            case .sendTo where open[key] == nil:
                // A first sendto makes an unconnected UDP socket.
                instance.conversations.append(Recording.Conversation(socket: socket, events: [e]))
                open[key] = instance.conversations.count - 1
            default:
                // On a socket that is not open the broker answered without I/O,
                // as a replay does: nothing to keep.
                guard let at = open[key] else { continue }
                instance.conversations[at].events.append(e)
                if case .close = e { open[key] = nil }
            }
        }
        recording = Recording(instances: order.compactMap { instances[$0] })
    }

    /// The socket event of a record, if it is one.
    static func event(_ r: [String: String]) -> Recording.Event? {
        let data = Transcript.decodeBase64(r["data"] ?? "")
        switch r["event"] {
        case "connect":
            return .connect(protocol: r["protocol"] ?? "", source: r["source"] ?? "", destination: r["destination"] ?? "",
                            result: r["result"] ?? "")
        case "tls":
            let der = Transcript.decodeBase64(r["peer_certificate"] ?? "")
            return .tls(result: r["result"] ?? "ok", version: r["version"] ?? "", cipher: r["cipher"] ?? "",
                        certificate: der.isEmpty ? nil : der)
        case "send": return .send(data)
        case "sendto": return .sendTo(destination: r["destination"] ?? "", data)
        case "receive": return r["result"].map { .receive(nil, result: $0) } ?? .receive(data, result: "")
        case "close": return .close
        default: return nil
        }
    }

    static func host(_ r: [String: String]) throws -> RecordedHost {
        guard let address = r["address"], !address.isEmpty else { throw SpecError("a host record without an address") }
        var ports: [PortReport] = []
        for entry in AuditRecord.list(r["ports"]) {
            let parts = entry.split(separator: " ").map(String.init)
            let number = parts.first?.split(separator: "/")
            guard parts.count >= 3, let number, number.count == 2, let port = Int(number[0]),
                  let proto = PortProtocol(rawValue: String(number[1])) else {
                throw SpecError("host \(address): bad port entry '\(entry)'")
            }
            ports.append(PortReport(port: port, proto: proto, state: parts[1], reason: parts[2],
                                    service: parts.count > 3 ? parts[3] : ""))
        }
        let name = r["targetname"] ?? ""
        let latency = Double(r["latency"] ?? "") ?? -1
        var times = HostTimes()
        if let srtt = Int(r["srtt_us"] ?? ""), let rttvar = Int(r["rttvar_us"] ?? ""), let timeout = Int(r["timeout_us"] ?? "") {
            times = HostTimes(srtt: srtt, rttvar: rttvar, timeout: timeout)
        }
        return RecordedHost(target: ScanTarget(address: address, family: address.contains(":") ? .ipv6 : .ipv4,
                                               targetName: name.isEmpty ? nil : name),
                            latency: latency < 0 ? nil : latency, ports: ports, added: r["added"] == "true", times: times)
    }

    static func unhex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var high: UInt8?
        for c in s.utf8 {
            guard let v = c.hexDigitValue else { return [] }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }
}

private extension UInt8 {
    var hexDigitValue: UInt8? {
        switch self {
        case 48...57: return self - 48
        case 97...102: return self - 87
        case 65...70: return self - 55
        default: return nil
        }
    }
}
