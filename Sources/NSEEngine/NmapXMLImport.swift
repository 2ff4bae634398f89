import NSEScan
import NSEWire

/// A host as an earlier `nmap -oX` scan saw it.
public struct ImportedHost: Sendable {
    public var target: ScanTarget
    public var ports: [PortReport]
    /// Host-table fields beyond address and name: os, mac_addr, traceroute, times, reason...
    public var hostFields: [(String, Value)]
}

/// Reads an `nmap -oX` file so scripts run on what that scan found: hosts, ports,
/// states and reasons, service and version detection, OS matches, MAC, traceroute,
/// times and host names. Malformed or truncated XML is an error naming the line.
public enum NmapXMLImport {
    public static func load(path: String) throws(SpecError) -> [ImportedHost] {
        let bytes: [UInt8]
        do { bytes = try readFileBytes(path) } catch { throw SpecError("Cannot read nmap XML file \"\(path)\".") }
        return try parse(bytes, name: path)
    }

    public static func parse(_ bytes: [UInt8], name: String) throws(SpecError) -> [ImportedHost] {
        let reader = Reader()
        do {
            try XMLEvents.read(bytes) { (event, line) throws(XMLEvents.Failure) in
                switch event {
                case .start(let element, let attributes): try reader.start(element, attributes, line: line)
                case .end(let element): try reader.end(element, line: line)
                case .text(let text): reader.text += text
                }
            }
        } catch {
            throw SpecError("Malformed nmap XML in \"\(name)\" at line \(error.line): \(error.why)")
        }
        guard reader.sawRoot else { throw SpecError("\"\(name)\" is not nmap XML output: no <nmaprun> element.") }
        guard reader.closedRoot else {
            // The file's last line: its line breaks, and one more for text after the last.
            let lines = bytes.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 } + (bytes.last == 0x0A ? 0 : 1)
            throw SpecError("Truncated nmap XML in \"\(name)\": it ends at line \(max(lines, 1)) before </nmaprun>.")
        }
        return reader.hosts
    }
}

/// Collects one host at a time from the document's events.
private final class Reader {
    var hosts: [ImportedHost] = []
    var sawRoot = false
    var closedRoot = false

    private var host: HostBuilder?
    private var port: PortReport?
    private var portVersion: [(String, Value)] = []
    private var cpes: [Value] = []
    private var osMatch: (name: String, accuracy: Int, classes: [Value])?
    private var osClass: [(String, Value)]?
    var text = ""

    struct HostBuilder {
        var address: String?
        var family: AddressFamily = .ipv4
        var up = true
        var userName: String?
        var ptrName: String?
        var ports: [PortReport] = []
        var fields: [(String, Value)] = []
        var os: [Value] = []
        var hops: [Value] = []
    }

    func start(_ element: String, _ a: [String: String], line: Int) throws(XMLEvents.Failure) {
        text = ""
        switch element {
        case "nmaprun": sawRoot = true
        case "host": host = HostBuilder()
        case "status":
            host?.up = a["state"] == "up"
            host?.fields.append(("reason", .string(a["reason"] ?? "user-set")))
            host?.fields.append(("reason_ttl", .int(Int64(a["reason_ttl"] ?? "0") ?? 0)))
        case "address":
            switch a["addrtype"] {
            case "ipv4": host?.address = a["addr"]; host?.family = .ipv4
            case "ipv6": host?.address = a["addr"]; host?.family = .ipv6
            case "mac": if let mac = a["addr"].flatMap(macBytes) { host?.fields.append(("mac_addr", .bytes(mac))) }
            default: break
            }
        case "hostname":
            if a["type"] == "user" { host?.userName = a["name"] } else if a["type"] == "PTR" { host?.ptrName = a["name"] }
        case "port":
            guard let number = a["portid"].flatMap(Int.init), let proto = a["protocol"].flatMap(PortProtocol.init) else {
                throw XMLEvents.Failure(line: line, why: "a <port> without a valid portid and protocol")
            }
            port = PortReport(port: number, proto: proto, state: "unknown", reason: "", service: "unknown")
            portVersion = []
        case "state":
            port?.state = a["state"] ?? "unknown"
            port?.reason = a["reason"] ?? ""
        case "service":
            port?.service = a["name"] ?? "unknown"
            cpes = []
            portVersion = [("name", .string(a["name"] ?? "unknown"))]
            for (xml, lua) in [("product", "product"), ("version", "version"), ("extrainfo", "extrainfo"),
                               ("hostname", "hostname"), ("ostype", "ostype"), ("devicetype", "devicetype"),
                               ("servicefp", "service_fp")] {
                if let v = a[xml] { portVersion.append((lua, .string(v))) }
            }
            portVersion.append(("name_confidence", .double(Double(a["conf"] ?? "3") ?? 3)))
            portVersion.append(("service_dtype", .string(a["method"] == "probed" ? "probed" : "table")))
            portVersion.append(("service_tunnel", .string(a["tunnel"] == "ssl" ? "ssl" : "none")))
        case "osmatch":
            osMatch = (a["name"] ?? "", Int(a["accuracy"] ?? "0") ?? 0, [])
        case "osclass":
            cpes = []
            osClass = [("vendor", .string(a["vendor"] ?? "")), ("osfamily", .string(a["osfamily"] ?? "")),
                       ("type", .string(a["type"] ?? ""))]
            if let gen = a["osgen"] { osClass?.append(("osgen", .string(gen))) }
        case "times":
            func seconds(_ k: String) -> Value { .double((Double(a[k] ?? "0") ?? 0) / 1_000_000) }
            host?.fields.append(("times", .record(["srtt": seconds("srtt"), "rttvar": seconds("rttvar"), "timeout": seconds("to")])))
        case "hop":
            var hop: [(String, Value)] = [("ip", .string(a["ipaddr"] ?? ""))]
            if let name = a["host"] { hop.append(("name", .string(name))) }
            hop.append(("times", .record(["srtt": .double((Double(a["rtt"] ?? "0") ?? 0) / 1000)])))
            host?.hops.append(.record(hop))
        case "distance":
            if let d = a["value"].flatMap(Int64.init) { host?.fields.append(("distance", .int(d))) }
        default: break
        }
    }

    func end(_ element: String, line: Int) throws(XMLEvents.Failure) {
        switch element {
        case "nmaprun": closedRoot = true
        case "cpe":
            cpes.append(.string(text.trimming(\.isWhitespace)))
        case "service":
            if !cpes.isEmpty { portVersion.append(("cpe", .array(cpes))) }
        case "port":
            if var p = port {
                p.version = .record(portVersion.isEmpty ? [("name", .string(p.service)), ("name_confidence", .double(3)),
                                                          ("service_dtype", "table"), ("service_tunnel", "none")] : portVersion)
                host?.ports.append(p)
            }
            port = nil
        case "osclass":
            if var c = osClass {
                c.append(("cpe", .array(cpes)))
                osMatch?.classes.append(.record(c))
            }
            osClass = nil
        case "osmatch":
            // Only perfect matches go into host.os, as in nmap.
            if let m = osMatch, m.accuracy == 100 {
                host?.os.append(.record([("name", .string(m.name)), ("classes", .array(m.classes))]))
            }
            osMatch = nil
        case "host":
            guard var h = host else { return }
            host = nil
            guard let address = h.address else { throw XMLEvents.Failure(line: line, why: "a <host> without an IP address") }
            guard h.up else { return }
            if !h.os.isEmpty { h.fields.append(("os", .array(h.os))) }
            if !h.hops.isEmpty { h.fields.append(("traceroute", .array(h.hops))) }
            if let ptr = h.ptrName { h.fields.append(("name", .string(ptr))) }
            hosts.append(ImportedHost(target: ScanTarget(address: address, family: h.family, targetName: h.userName),
                                      ports: h.ports.sorted { ($0.proto, $0.port) < ($1.proto, $1.port) },
                                      hostFields: h.fields))
        default: break
        }
    }
}

/// "00:11:22:AA:BB:CC" as six bytes, as host.mac_addr holds it.
private func macBytes(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ":").compactMap { UInt8($0, radix: 16) }
    return parts.count == 6 ? parts : nil
}
