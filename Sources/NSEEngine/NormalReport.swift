import Glibc
import NSEScan
import NSEWire

/// nmap's normal output (-oN and the screen), from the report.
public enum NormalReport {
    public static func render(_ r: ScanReport, verbosity: Int) -> String {
        renderHosts(r) + renderPostScan(r)
    }

    /// Pre-scan results and the host reports: what nmap prints before post-scan scripts run.
    public static func renderHosts(_ r: ScanReport) -> String {
        var out: [String] = []
        if !r.preScripts.isEmpty {
            out.append("Pre-scan script results:")
            out += r.preScripts.flatMap(scriptLines)
        }
        for h in r.hosts { out += host(h) }
        return lines(out)
    }

    public static func renderPostScan(_ r: ScanReport) -> String {
        guard !r.postScripts.isEmpty else { return "" }
        return lines(["Post-scan script results:"] + r.postScripts.flatMap(scriptLines))
    }

    /// "17:27", as nmap's progress lines show the time.
    public static func clock(_ t: Double) -> String { localTime(t, "%H:%M") }

    /// `t` (Unix seconds) in local time, formatted by strftime.
    static func localTime(_ t: Double, _ format: String) -> String {
        var time = time_t(t)
        var tmv = tm()
        localtime_r(&time, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        strftime(&buf, 64, format, &tmv)
        return String(cString: buf)
    }

    public static func header(startTime: Double) -> String {
        "Starting nsebox 0.1 (NSE scripts from nmap's install, each in its own sandbox) at \(timestamp(startTime))\n"
    }

    public static func footer(_ r: ScanReport) -> String {
        let n = r.hosts.count
        let up = r.hosts.count
        let addresses = n == 1 ? "1 IP address" : "\(n) IP addresses"
        let hostsUp = up == 1 ? "1 host up" : "\(up) hosts up"
        return "nsebox done: \(addresses) (\(hostsUp)) scanned in \(String(format2(r.elapsed))) seconds\n"
    }

    static func host(_ h: HostReport) -> [String] {
        var out: [String] = []
        if let name = h.target.targetName {
            out.append("Nmap scan report for \(name) (\(h.target.address))")
        } else {
            out.append("Nmap scan report for \(h.target.address)")
        }
        if let l = h.latency { out.append("Host is up (\(significant(l))s latency).") } else { out.append("Host is up.") }
        out += portSection(h)
        if !h.hostScripts.isEmpty {
            out.append("")
            out.append("Host script results:")
            out += h.hostScripts.sorted { $0.id < $1.id }.flatMap(scriptLines)
        }
        out.append("")
        return out
    }

    /// The port table; the most common closed or filtered state is summarized in a
    /// "Not shown" line when it covers more than 25 ports, as nmap does.
    static func portSection(_ h: HostReport) -> [String] {
        var counts: [String: Int] = [:]
        for p in h.ports { counts[p.state, default: 0] += 1 }
        let hidden: String? = counts.filter { $0.key != "open" && $0.value > 25 }.max { $0.value < $1.value }?.key
        let shown = h.ports.filter { $0.state != hidden }
        var out: [String] = []
        if let hidden {
            let reasons = Dictionary(grouping: h.ports.filter { $0.state == hidden }, by: \.reason)
            let why = reasons.sorted { $0.value.count > $1.value.count }.map { "\($0.value.count) \($0.key)" }.joined(separator: ", ")
            let n = counts[hidden]!
            if shown.isEmpty {
                let who = h.target.targetName.map { "\($0) (\(h.target.address))" } ?? h.target.address
                out.append("All \(n) scanned ports on \(who) are in ignored states.")
            }
            _ = why
            // Per protocol, as nmap: "Not shown: 997 closed tcp ports (conn-refused), 5 closed udp ports (port-unreach)".
            var pieces: [String] = []
            for proto in [PortProtocol.tcp, .udp] {
                let mine = h.ports.filter { $0.state == hidden && $0.proto == proto }
                guard !mine.isEmpty else { continue }
                let byReason = Dictionary(grouping: mine, by: \.reason).sorted { $0.value.count > $1.value.count }
                let reasonText = byReason.map { byReason.count == 1 ? $0.key : "\($0.value.count) \($0.key)" }.joined(separator: ", ")
                pieces.append("\(mine.count) \(hidden) \(proto.rawValue) port\(mine.count == 1 ? "" : "s") (\(reasonText))")
            }
            _ = n
            out.append("Not shown: " + pieces.joined(separator: ", "))
        } else {
            out.append("")
        }
        guard !shown.isEmpty else { return out }
        let rows = shown.map {
            PortRow(port: $0.port, proto: $0.proto, state: $0.state, service: $0.service, version: versionText($0.version))
        }
        // nmap shows VERSION when version detection ran: here, when a port has its results.
        let table = formatPortTable(rows, showReason: false, showVersion: h.ports.contains { $0.version?["service_dtype"].text == "probed" })
        out.append(table[0])
        for (i, p) in shown.enumerated() {
            out.append(table[i + 1])
            out += p.scripts.sorted { $0.id < $1.id }.flatMap(scriptLines)
        }
        if let info = serviceInfo(h.ports) { out.append(info) }
        return out
    }

    /// nmap's "Service Info:" line: host names, OS types, device types and OS CPEs
    /// that version detection found, each listed once.
    static func serviceInfo(_ ports: [PortReport]) -> String? {
        var hostsSeen: [String] = [], oses: [String] = [], devices: [String] = [], cpes: [String] = []
        func add(_ v: String?, _ list: inout [String]) { if let v, !v.isEmpty, !list.contains(v) { list.append(v) } }
        for p in ports where p.state == "open" {
            guard let v = p.version else { continue }
            add(v["hostname"].text, &hostsSeen)
            add(v["ostype"].text, &oses)
            add(v["devicetype"].text, &devices)
            for c in v["cpe"].arrayPart { if let t = c.text, t.hasPrefix("cpe:/o") { add(t, &cpes) } }
        }
        var parts: [String] = []
        if !hostsSeen.isEmpty { parts.append((hostsSeen.count == 1 ? "Host: " : "Hosts: ") + hostsSeen.joined(separator: ", ")) }
        if !oses.isEmpty { parts.append((oses.count == 1 ? "OS: " : "OSs: ") + oses.joined(separator: ", ")) }
        if !devices.isEmpty { parts.append((devices.count == 1 ? "Device: " : "Devices: ") + devices.joined(separator: ", ")) }
        if !cpes.isEmpty { parts.append("CPE: " + cpes.joined(separator: ", ")) }
        return parts.isEmpty ? nil : "Service Info: " + parts.joined(separator: "; ")
    }

    /// "product version (extrainfo)", as nmap's VERSION column shows it.
    static func versionText(_ v: NSEWire.Value?) -> String? {
        guard let v else { return nil }
        var parts: [String] = []
        if let p = v["product"].text { parts.append(p) }
        if let ver = v["version"].text { parts.append(ver) }
        if let extra = v["extrainfo"].text { parts.append("(\(extra))") }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// One script's block: `|_id: text` for one line, otherwise `| id: first`,
    /// `| ...` and a last `|_...`. Unprintable bytes show as \xNN.
    public static func scriptLines(_ r: ScriptResult) -> [String] {
        // Split on the bytes: W1's 1,920 results split as Strings were on the
        // way from the last script's end to the report.
        var lines = r.output.split(separator: 10, omittingEmptySubsequences: false)
        if lines.count > 1 && lines.last!.isEmpty { lines.removeLast() }
        if lines.isEmpty { lines = [[]] }
        return lines.enumerated().map { i, line in
            (i == lines.count - 1 ? "|_" : "| ") + (i == 0 ? "\(r.id): " : "") + escape(line)
        }
    }

    /// The bytes as they are where all are printable ASCII, tab or newline (a
    /// report's usual case, decoded at once); any other byte as \xNN.
    static func escape(_ s: ArraySlice<UInt8>) -> String {
        func plain(_ b: UInt8) -> Bool { b == 9 || b == 10 || (0x20...0x7e).contains(b) }
        guard !s.allSatisfy(plain) else { return String(decoding: s, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(s.count + 16)
        for b in s {
            if plain(b) { out.append(b) } else { out += Array("\\x".utf8) + Array(hex(b).utf8) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The lines, each ended by a newline, as one String built in place.
    static func lines(_ lines: [String]) -> String {
        var text = ""
        text.reserveCapacity(lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines {
            text += line
            text += "\n"
        }
        return text
    }

    static func hex(_ b: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    /// Two significant digits, as nmap prints latency ("0.00040").
    static func significant(_ v: Double) -> String {
        guard v > 0 else { return "0.0" }
        let exponent = Int(floor(log10(v)))
        let decimals = max(0, 1 - exponent)
        return String(format2(v, decimals: decimals))
    }

    /// printf's "%.Nf": worked out exactly here for the report's numbers (a
    /// CVarArg list made Swift's runtime search all of the program's protocol
    /// conformances the first time, on the way from the last script to the
    /// report), by vsnprintf for the rest.
    public static func format2(_ v: Double, decimals: Int = 2) -> String {
        if let text = fixedPoint(v, decimals: decimals) { return text }
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([v]) { vsnprintf(&buf, 64, "%.\(decimals)f", $0) }
        return String(cString: buf)
    }

    /// `v` rounded to `decimals` places as printf rounds: the exact binary value,
    /// halves to even. Only for 0 <= v < 2^52 and at most 18 places (where
    /// significand x 10^places fits 128 bits), else nil.
    static func fixedPoint(_ v: Double, decimals: Int) -> String? {
        guard v.isFinite, v >= 0, v < 0x1p52, (0...18).contains(decimals) else { return nil }
        // v = significand x 2^-shift exactly, shift > 0 below 2^52.
        let significand = UInt128(v.significandBitPattern | (v.isNormal ? 1 << 52 : 0))
        let shift = 1075 - max(Int(v.exponentBitPattern), 1)
        var power: UInt128 = 1
        for _ in 0..<decimals { power *= 10 }
        let scaled = significand * power
        var units: UInt128 = 0
        if shift < 128 {
            units = scaled >> shift
            let rest = scaled & ((1 << shift) - 1), half: UInt128 = 1 << (shift - 1)
            if rest > half || (rest == half && units & 1 == 1) { units += 1 }
        }
        var digits = String(units)
        if decimals == 0 { return digits }
        if digits.count <= decimals { digits = String(repeating: "0", count: decimals + 1 - digits.count) + digits }
        digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -decimals))
        return digits
    }

    static func timestamp(_ t: Double) -> String { localTime(t, "%Y-%m-%d %H:%M %Z") }
}
