/// The readable account of a policy that `nsebox policy check` prints: every
/// statement as the parser understood it, numbers resolved, overrides last.
extension Policy {
    public var summary: String {
        var out = "policy \(name) (format \(format))\n"
        out += "process (seccomp, checked in the child):\n"
        out += "  default: \(Self.word(defaultAction))\n"
        for rule in rules {
            let conditions = rule.conditions.map { c in
                let lhs = "arg\(c.index)" + (c.mask.map { " & " + Self.hex($0) } ?? "")
                return " \(lhs) == \(Self.hex(c.value))"
            }.joined(separator: " and")
            out += "  \(Self.word(rule.action)) \(rule.syscall)\(conditions.isEmpty ? "" : " if" + conditions)\n"
        }
        out += "  rlimits: " + (limits.isEmpty ? "none" : limits.map { "\($0.resource.rawValue) \(Self.size($0.value))" }
            .joined(separator: ", ")) + "\n"
        out += "scripts that run: " + (runCategories.map { "categories " + $0.joined(separator: ", ") } ?? "all") + "\n"
        out += "rights (checked by the broker):\n" + Self.describe(rights, indent: "  ")
        for o in overrides {
            let who: String
            switch o.selector {
            case .category(let c): who = "category \(c)"
            case .script(let s): who = "script \(s)"
            }
            out += "  when \(who): \(o.statement.joined(separator: " "))\n"
        }
        return out
    }

    static func describe(_ r: ScriptRights, indent: String) -> String {
        var lines: [String] = []
        lines.append("wall time: " + (r.wallSeconds.map { "\(Self.number($0)) s" } ?? "no limit"))
        lines.append("sockets open at once: \(r.sockets)")
        lines.append("bytes sent: " + (r.sentBytes.map(Self.size) ?? "no limit"))
        lines.append("bytes received: " + (r.receivedBytes.map(Self.size) ?? "no limit"))
        lines.append("output (result and log): " + (r.outputBytes.map { Self.size(UInt64($0)) } ?? "no limit"))
        lines.append("registry written at once: " + (r.registryBytes.map { Self.size(UInt64($0)) } ?? "no limit"))
        lines.append("script threads alive at once: " + (r.threads.map(String.init) ?? "no limit"))
        lines.append("network: " + (["the hosts under scan"] + r.network.sorted().map { $0 == .dns ? "the DNS servers (port 53)" : "broadcast" })
            .joined(separator: ", "))
        lines.append("raw packets: " + (r.raw ? "yes" : "no"))
        lines.append("reads: " + (r.read.isEmpty ? "nothing" : r.read.sorted().map(\.word).joined(separator: ", ")))
        return lines.map { indent + $0 + "\n" }.joined()
    }

    static func word(_ a: SyscallAction) -> String {
        switch a {
        case .allow: return "allow"
        case .kill: return "kill"
        case .errno(let e): return "errno " + (PolicyParser.errnoNames.first { $0.value == e }?.key ?? String(e))
        }
    }

    static func hex(_ v: UInt64) -> String { v < 10 ? String(v) : "0x" + String(v, radix: 16) }

    static func number(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }

    /// 1073741824 -> "1G"; values that are not whole units stay as they are.
    static func size(_ v: UInt64) -> String {
        if v == UInt64.max { return "unlimited" }
        for (unit, scale) in [("G", UInt64(1) << 30), ("M", UInt64(1) << 20), ("K", UInt64(1) << 10)] where v >= scale && v % scale == 0 {
            return "\(v / scale)\(unit)"
        }
        return String(v)
    }
}
