import Glibc
import NSEScan
import NSEWire

/// What the machine-readable reports need to know about the run that the
/// `ScanReport` does not hold: how nsebox was invoked and what it scanned.
public struct ReportContext: Sendable {
    /// argv as given, argv[0] included; joined with spaces for `args`.
    public var commandLine: [String]
    /// Every TCP port scanned, for `<scaninfo>`.
    public var scannedTCP: [Int]
    public var verbosity: Int
    public var debugging: Int
    /// nmap-services: a port gets a `<service>` element only when the table
    /// names it (nmap's behaviour); nil writes one for every port.
    public var services: ServiceTable?

    public init(commandLine: [String], scannedTCP: [Int], verbosity: Int, debugging: Int, services: ServiceTable?) {
        self.commandLine = commandLine; self.scannedTCP = scannedTCP
        self.verbosity = verbosity; self.debugging = debugging; self.services = services
    }

    var args: String { commandLine.joined(separator: " ") }
}

/// nmap's XML output (-oX), laid out as nmap 7.93 writes it for a -sT script
/// scan and valid against nmap's own DTD (/usr/share/nmap/nmap.dtd).
///
/// Choices:
/// - `scanner="nmap"`: the DTD allows no other value. `version="7.93"`, the nmap
///   whose scripts and report nsebox follows (ndiff and nmap.xsl show it as
///   "Nmap 7.93 scan initiated ... as: nsebox ..."); the comment line and `args`
///   name nsebox.
/// - Text is escaped as nmap escapes it: `< > & " '` as entities, the second of
///   two dashes as `&#45;` (so `--` never appears, not even in the comment),
///   tab, LF and CR as character references, and every other byte outside
///   0x20-0x7E (control bytes, DEL, and all bytes >= 0x80, UTF-8 or not) as the
///   four characters `\xNN`. The document is therefore plain ASCII.
/// - The collapsed state (`<extraports>`) is chosen as NormalReport chooses its
///   "Not shown" line: the most common state other than open, when it covers
///   more than 25 ports (ties go to the state name first in alphabetical order).
/// - `<times>`: srtt is the measured latency in microseconds; nsebox keeps no
///   variance, so rttvar is nmap's initial 5000 and `to` is srtt + 4 rttvar, at
///   least 100000 (nmap's floor). With no measurement: -1, -1, 1000000.
/// - A port whose version a script set (nmap.set_port_version) gets
///   `method="probed" conf="10"` and the name, product, version and extrainfo
///   the script gave.
public enum XMLReport {
    public static func render(_ r: ScanReport, context c: ReportContext) -> String {
        var x = ""
        let startstr = ctimeText(r.startTime)
        let end = r.startTime + r.elapsed
        x += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        x += "<!DOCTYPE nmaprun>\n"
        if access("/usr/share/nmap/nmap.xsl", R_OK) == 0 {
            x += "<?xml-stylesheet href=\"file:///usr/share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n"
        }
        x += "<!-- nsebox 0.1 scan initiated \(startstr) as: \(escape(c.args)) -->\n"
        x += "<nmaprun scanner=\"nmap\" args=\"\(escape(c.args))\" start=\"\(Int(r.startTime))\" "
            + "startstr=\"\(escape(startstr))\" version=\"7.93\" xmloutputversion=\"1.05\">\n"
        let tcp = Array(Set(c.scannedTCP)).sorted()
        x += "<scaninfo type=\"connect\" protocol=\"tcp\" numservices=\"\(tcp.count)\" services=\"\(rangeList(tcp))\"/>\n"
        x += "<verbose level=\"\(c.verbosity)\"/>\n"
        x += "<debugging level=\"\(c.debugging)\"/>\n"
        if !r.preScripts.isEmpty {
            x += "<prescript>" + r.preScripts.map(script).joined() + "</prescript>"
        }
        for h in r.hosts { x += host(h, report: r, context: c) }
        if !r.postScripts.isEmpty {
            x += "<postscript>" + r.postScripts.map(script).joined() + "</postscript>"
        }
        let n = r.hosts.count
        let summary = "nsebox done at \(ctimeText(end)); \(n) IP address\(n == 1 ? "" : "es") "
            + "(\(n) host\(n == 1 ? "" : "s") up) scanned in \(fixed2(r.elapsed)) seconds"
        x += "<runstats><finished time=\"\(Int(end))\" timestr=\"\(escape(ctimeText(end)))\" "
            + "summary=\"\(escape(summary))\" elapsed=\"\(fixed2(r.elapsed))\" exit=\"success\"/>"
            + "<hosts up=\"\(n)\" down=\"0\" total=\"\(n)\"/>\n"
        x += "</runstats>\n</nmaprun>\n"
        return x
    }

    static func host(_ h: HostReport, report r: ScanReport, context c: ReportContext) -> String {
        let start = Int(h.startTime ?? r.startTime)
        let end = Int(h.endTime ?? (r.startTime + r.elapsed))
        var x = "<host starttime=\"\(start)\" endtime=\"\(end)\">"
        x += "<status state=\"up\" reason=\"user-set\" reason_ttl=\"0\"/>\n"
        let type = h.target.family == .ipv6 ? "ipv6" : "ipv4"
        x += "<address addr=\"\(escape(h.target.address))\" addrtype=\"\(type)\"/>\n"
        x += "<hostnames>\n"
        if let name = h.target.targetName { x += "<hostname name=\"\(escape(name))\" type=\"user\"/>\n" }
        x += "</hostnames>\n"
        x += "<ports>"
        let hidden = collapsedState(h.ports)
        if let hidden {
            let collapsed = h.ports.filter { $0.state == hidden }
            x += "<extraports state=\"\(escape(hidden))\" count=\"\(collapsed.count)\">\n"
            let byReason = Dictionary(grouping: collapsed, by: \.reason)
                .sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }
            for (reason, ports) in byReason {
                for proto in Set(ports.map(\.proto)).sorted() {
                    let list = ports.filter { $0.proto == proto }.map(\.port).sorted()
                    x += "<extrareasons reason=\"\(escape(reason))\" count=\"\(list.count)\" "
                        + "proto=\"\(proto.rawValue)\" ports=\"\(rangeList(list))\"/>\n"
                }
            }
            x += "</extraports>\n"
        }
        for p in h.ports where p.state != hidden { x += port(p, context: c) }
        x += "</ports>\n"
        if !h.hostScripts.isEmpty {
            x += "<hostscript>" + sortedScripts(h.hostScripts).map(script).joined() + "</hostscript>"
        }
        x += times(h.latency)
        x += "</host>\n"
        return x
    }

    static func port(_ p: PortReport, context c: ReportContext) -> String {
        var x = "<port protocol=\"\(p.proto.rawValue)\" portid=\"\(p.port)\">"
        x += "<state state=\"\(escape(p.state))\" reason=\"\(escape(p.reason))\" reason_ttl=\"0\"/>"
        if let v = p.version, case .table = v {
            let name = v["name"].text ?? p.service
            var attrs = "name=\"\(escape(name))\""
            for field in ["product", "version", "extrainfo"] {
                if let s = v[field].text, !s.isEmpty { attrs += " \(field)=\"\(escape(s))\"" }
            }
            if v["service_tunnel"].text == "ssl" { attrs += " tunnel=\"ssl\"" }
            for field in ["hostname", "ostype", "devicetype"] {
                if let s = v[field].text, !s.isEmpty { attrs += " \(field)=\"\(escape(s))\"" }
            }
            x += "<service \(attrs) method=\"probed\" conf=\"10\"/>"
        } else if c.services == nil || c.services?.name(port: p.port, protocol: p.proto) != nil {
            x += "<service name=\"\(escape(p.service))\" method=\"table\" conf=\"3\"/>"
        }
        x += sortedScripts(p.scripts).map(script).joined()
        x += "</port>\n"
        return x
    }

    /// Scripts in the order the normal report lists them.
    static func sortedScripts(_ s: [ScriptResult]) -> [ScriptResult] { s.sorted { $0.id < $1.id } }

    /// `<script id output>`, with the structured output as `<elem>`/`<table>`
    /// children (key attribute only for keyed entries).
    static func script(_ s: ScriptResult) -> String {
        let head = "<script id=\"\(escape(s.id))\" output=\"\(escape(s.output))\""
        let children = s.structured.map(structuredChildren) ?? ""
        if children.isEmpty { return head + "/>" }
        return head + ">" + children + "</script>"
    }

    static func structuredChildren(_ v: Value) -> String {
        guard case .table = v else { return "" }
        var x = ""
        for (key, value) in StructuredOutput.entries(v) {
            let keyAttr = key.map { " key=\"\(escape($0))\"" } ?? ""
            if case .table = value {
                x += "<table\(keyAttr)>\n" + structuredChildren(value) + "</table>\n"
            } else {
                x += "<elem\(keyAttr)>\(escape(StructuredOutput.scalarText(value)))</elem>\n"
            }
        }
        return x
    }

    static func times(_ latency: Double?) -> String {
        guard let latency, latency.isFinite, latency >= 0 else {
            return "<times srtt=\"-1\" rttvar=\"-1\" to=\"1000000\"/>\n"
        }
        let srtt = Int((latency * 1e6).rounded())
        let rttvar = 5000
        return "<times srtt=\"\(srtt)\" rttvar=\"\(rttvar)\" to=\"\(max(100_000, srtt + 4 * rttvar))\"/>\n"
    }

    /// The state NormalReport leaves out of the port table, if any.
    static func collapsedState(_ ports: [PortReport]) -> String? {
        var counts: [String: Int] = [:]
        for p in ports { counts[p.state, default: 0] += 1 }
        return counts.filter { $0.key != "open" && $0.value > 25 }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.first?.key
    }

    // MARK: text

    public static func escape(_ s: String) -> String { escape(Array(s.utf8)) }

    /// nmap's XML escaping of script output and attribute text (see the type's comment).
    public static func escape(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        var previous: UInt8 = 0
        func put(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        for b in bytes {
            switch b {
            case UInt8(ascii: "<"): put("&lt;")
            case UInt8(ascii: ">"): put("&gt;")
            case UInt8(ascii: "&"): put("&amp;")
            case UInt8(ascii: "\""): put("&quot;")
            case UInt8(ascii: "'"): put("&apos;")
            case UInt8(ascii: "-") where previous == UInt8(ascii: "-"): put("&#45;")
            case 9: put("&#x9;")
            case 10: put("&#xa;")
            case 13: put("&#xd;")
            case 0x20...0x7e: out.append(b)
            default:
                let digits = Array("0123456789ABCDEF".utf8)
                out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), digits[Int(b >> 4)], digits[Int(b & 15)]]
            }
            previous = b
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Ascending ports as nmap lists them: "1-40,18081".
    public static func rangeList(_ sorted: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// "Thu Nov 26 17:25:24 2026", local time, as nmap's startstr and timestr.
    static func ctimeText(_ t: Double) -> String { NormalReport.localTime(t, "%a %b %d %H:%M:%S %Y") }

    static func fixed2(_ v: Double) -> String {
        NormalReport.format2(v)
    }
}

/// The structured output the child sends: a table is `{o = {k1, v1, k2, v2, ...}}`
/// with key `false` for sequence items (sequence first, then string keys, in the
/// order the script's table iterates them); scalars are strings, numbers, booleans.
enum StructuredOutput {
    /// A table's entries in order: key nil for a sequence item.
    static func entries(_ v: Value) -> [([UInt8]?, Value)] {
        let flat = v["o"].arrayPart
        var out: [([UInt8]?, Value)] = []
        var i = 0
        while i + 1 < flat.count {
            let key: [UInt8]?
            switch flat[i] {
            case .bytes(let b): key = b
            case .int(let n): key = Array(String(n).utf8)
            default: key = nil
            }
            out.append((key, flat[i + 1]))
            i += 2
        }
        return out
    }

    /// A scalar as Lua's tostring shows it (nmap writes `<elem>` text that way).
    static func scalarText(_ v: Value) -> [UInt8] {
        switch v {
        case .bytes(let b): return b
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        case .int(let n): return Array(String(n).utf8)
        case .double(let d): return Array(luaNumber(d).utf8)
        case .none: return Array("nil".utf8)
        case .table: return []
        }
    }

    /// Lua 5.3/5.4's tostring of a float: "%.14g", plus ".0" when that looks
    /// like an integer; "inf", "-inf", "nan"/"-nan" as the C library prints them.
    static func luaNumber(_ d: Double) -> String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = withVaList([d]) { vsnprintf(&buf, 64, "%.14g", $0) }
        var s = cText(buf)
        if d.isFinite && s.allSatisfy({ $0 == "-" || $0.isNumber }) { s += ".0" }
        return s
    }
}

/// A NUL-terminated C buffer as text.
private func cText(_ buf: [CChar]) -> String {
    String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
