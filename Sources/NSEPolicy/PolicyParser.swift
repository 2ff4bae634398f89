/// A policy file that cannot be used, with the line that is wrong.
public struct PolicyError: Error, CustomStringConvertible, Equatable, Sendable {
    public var line: Int
    public var message: String
    public init(line: Int, _ message: String) { self.line = line; self.message = message }
    public var description: String { line > 0 ? "line \(line): \(message)" : message }
}

/// Reads the policy text format, one statement a line:
///
///     format 1
///     name default
///     default kill | errno NAME
///     allow SYSCALL [argN == V | argN & MASK == V]...
///     errno NAME SYSCALL [conditions]
///     kill SYSCALL [conditions]
///     rlimit RESOURCE VALUE[K|M|G]
///
/// `#` starts a comment. Values are decimal, 0x-hex or a named constant (`RPC_FD`,
/// `PROT_EXEC`, ...). Anything else is an error naming its line.
public enum PolicyParser {
    public static func parse(_ text: String) throws(PolicyError) -> Policy {
        var policy = Policy(format: 0, name: "")
        var sawDefault = false
        // Split on any line ending: Swift reads "\r\n" as one character.
        for (i, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let lineNo = i + 1
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let keyword = words.first else { continue }
            let rest = Array(words.dropFirst())
            switch keyword {
            case "format":
                guard rest.count == 1, let f = Int(rest[0]) else { throw PolicyError(line: lineNo, "format takes one number") }
                guard Policy.formats.contains(f) else {
                    throw PolicyError(line: lineNo, "unsupported policy format \(f) (this nsebox reads formats 1 and 2)")
                }
                policy.format = f
            case "name":
                guard rest.count == 1 else { throw PolicyError(line: lineNo, "name takes one word") }
                policy.name = rest[0]
            case "default":
                let (act, extra) = try action(rest, line: lineNo)
                guard extra.isEmpty else { throw PolicyError(line: lineNo, "unexpected words after the default action: \(extra.joined(separator: " "))") }
                policy.defaultAction = act
                sawDefault = true
            case "allow", "kill", "errno":
                let (act, remaining) = try action([keyword] + rest, line: lineNo)
                guard let name = remaining.first else { throw PolicyError(line: lineNo, "\(keyword) needs a system call name") }
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                    throw PolicyError(line: lineNo, "bad system call name '\(name)'")
                }
                let conditions = try parseConditions(Array(remaining.dropFirst()), line: lineNo)
                policy.rules.append(SyscallRule(act, name, conditions))
            case "rlimit":
                guard rest.count == 2 else { throw PolicyError(line: lineNo, "rlimit takes a resource and a value") }
                guard let res = ResourceLimit.Resource(rawValue: rest[0]) else {
                    throw PolicyError(line: lineNo, "unknown resource '\(rest[0])' (known: \(ResourceLimit.Resource.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                policy.limits.append(ResourceLimit(res, try size(rest[1], line: lineNo)))
            case "scripts", "limit", "network", "raw", "read", "when":
                guard policy.format >= 2 else {
                    throw PolicyError(line: lineNo, "'\(keyword)' needs 'format 2' before it")
                }
                switch keyword {
                case "scripts":
                    guard !rest.isEmpty else { throw PolicyError(line: lineNo, "scripts takes 'all' or category names") }
                    policy.runCategories = rest == ["all"] ? nil : rest
                case "when":
                    guard rest.count >= 3, rest[0] == "category" || rest[0] == "script" else {
                        throw PolicyError(line: lineNo, "when takes 'category NAME' or 'script NAME', then a limit, network, raw or read statement")
                    }
                    let statement = Array(rest.dropFirst(2))
                    var probe = ScriptRights()
                    try applyRights(statement, to: &probe, line: lineNo)
                    policy.overrides.append(RightsOverride(
                        selector: rest[0] == "category" ? .category(rest[1]) : .script(rest[1]),
                        statement: statement, line: lineNo))
                default:
                    try applyRights([keyword] + rest, to: &policy.rights, line: lineNo)
                }
            default:
                throw PolicyError(line: lineNo, "unknown statement '\(keyword)'")
            }
        }
        guard policy.format != 0 else { throw PolicyError(line: 0, "missing 'format \(Policy.currentFormat)' line") }
        guard !policy.name.isEmpty else { throw PolicyError(line: 0, "missing 'name' line") }
        guard sawDefault else { throw PolicyError(line: 0, "missing 'default' line") }
        return policy
    }

    /// The rights statements: `limit WHAT VALUE`, `network REACH`, `raw yes|no`,
    /// `read SOURCE...` (each `read` line replaces the list).
    static func applyRights(_ words: [String], to rights: inout ScriptRights, line: Int) throws(PolicyError) {
        let rest = Array(words.dropFirst())
        switch words.first {
        case "limit":
            guard rest.count == 2 else { throw PolicyError(line: line, "limit takes a name and a value") }
            let value = rest[1]
            switch rest[0] {
            case "wall": rights.wallSeconds = try seconds(value, line: line)
            case "sockets": rights.sockets = Int(clamping: try number(value, line: line))
            case "sent": rights.sentBytes = try size(value, line: line)
            case "received": rights.receivedBytes = try size(value, line: line)
            case "output": rights.outputBytes = Int(clamping: try size(value, line: line))
            case "registry": rights.registryBytes = Int(clamping: try size(value, line: line))
            case "threads": rights.threads = Int(clamping: try number(value, line: line))
            default:
                throw PolicyError(line: line, "unknown limit '\(rest[0])' (known: wall, sockets, sent, received, output, registry, threads)")
            }
        case "network":
            guard rest.count == 1 else { throw PolicyError(line: line, "network takes one word: targets, targets+dns, targets+broadcast, ...") }
            let parts = rest[0].split(separator: "+").map(String.init)
            guard parts.first == "targets" else { throw PolicyError(line: line, "network starts with 'targets' (the hosts under scan)") }
            var reach: Set<ScriptRights.Reach> = []
            for part in parts.dropFirst() {
                guard let r = ScriptRights.Reach(rawValue: part) else {
                    throw PolicyError(line: line, "unknown network reach '\(part)' (known: dns, broadcast)")
                }
                reach.insert(r)
            }
            rights.network = reach
        case "raw":
            guard rest.count == 1, rest[0] == "yes" || rest[0] == "no" else { throw PolicyError(line: line, "raw takes yes or no") }
            rights.raw = rest[0] == "yes"
        case "read":
            var sources: Set<ScriptRights.ReadSource> = []
            for word in rest {
                switch word {
                case "nmap-data": sources.insert(.nmapData)
                case "script-args": sources.insert(.scriptArgs)
                case "none": break
                default:
                    guard word.hasPrefix("/"), !word.split(separator: "/").contains("..") else {
                        throw PolicyError(line: line, "read takes nmap-data, script-args, none or absolute paths without '..', found '\(word)'")
                    }
                    sources.insert(.path(word))
                }
            }
            guard !rest.isEmpty else { throw PolicyError(line: line, "read takes nmap-data, script-args, none or absolute paths") }
            rights.read = sources
        default:
            throw PolicyError(line: line, "expected limit, network, raw or read")
        }
    }

    /// Seconds: a number with an optional unit s, m or h ("90", "10m").
    static func seconds(_ word: String, line: Int) throws(PolicyError) -> Double {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600]
        if let last = word.last, let unit = units[last], let v = Double(word.dropLast()), v > 0, v.isFinite { return v * unit }
        if let v = Double(word), v > 0, v.isFinite { return v }
        throw PolicyError(line: line, "bad time '\(word)' (a positive number of seconds, or with s, m or h)")
    }

    private static func action(_ words: [String], line: Int) throws(PolicyError) -> (action: SyscallAction, rest: [String]) {
        switch words.first {
        case "allow": return (.allow, Array(words.dropFirst()))
        case "kill": return (.kill, Array(words.dropFirst()))
        case "errno":
            guard words.count >= 2, let e = errnoNames[words[1]] else {
                throw PolicyError(line: line, "errno needs a known errno name (\(errnoNames.keys.sorted().joined(separator: ", ")))")
            }
            return (.errno(e), Array(words.dropFirst(2)))
        default:
            throw PolicyError(line: line, "expected allow, kill or errno")
        }
    }

    private static func parseConditions(_ words: [String], line: Int) throws(PolicyError) -> [ArgumentCondition] {
        var out: [ArgumentCondition] = []
        var i = 0
        while i < words.count {
            let arg = words[i]
            guard arg.hasPrefix("arg"), let index = Int(arg.dropFirst(3)), (0...5).contains(index) else {
                throw PolicyError(line: line, "expected arg0...arg5, found '\(arg)'")
            }
            if i + 2 < words.count, words[i + 1] == "==" {
                out.append(ArgumentCondition(index: index, value: try number(words[i + 2], line: line)))
                i += 3
            } else if i + 4 < words.count, words[i + 1] == "&", words[i + 3] == "==" {
                out.append(ArgumentCondition(index: index, mask: try number(words[i + 2], line: line),
                                             value: try number(words[i + 4], line: line)))
                i += 5
            } else {
                throw PolicyError(line: line, "incomplete condition on \(arg): use 'argN == V' or 'argN & MASK == V'")
            }
        }
        return out
    }

    static func number(_ word: String, line: Int) throws(PolicyError) -> UInt64 {
        if let v = constants[word] { return v }
        if word.hasPrefix("0x"), let v = UInt64(word.dropFirst(2), radix: 16) { return v }
        if let v = UInt64(word) { return v }
        throw PolicyError(line: line, "bad number '\(word)'")
    }

    static func size(_ word: String, line: Int) throws(PolicyError) -> UInt64 {
        if word == "unlimited" { return UInt64.max }
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        if let last = word.last, let unit = units[last], let v = UInt64(word.dropLast()) {
            let (r, overflow) = v.multipliedReportingOverflow(by: unit)
            guard !overflow else { throw PolicyError(line: line, "size '\(word)' is too large") }
            return r
        }
        return try number(word, line: line)
    }

    /// Named constants a policy may use in conditions (Linux x86_64 / generic values).
    static let constants: [String: UInt64] = [
        "RPC_FD": 3, "PROT_EXEC": 4, "PROT_WRITE": 2, "PROT_READ": 1,
        "MAP_SHARED": 1, "MAP_PRIVATE": 2, "MAP_ANONYMOUS": 0x20,
        "FUTEX_PRIVATE_FLAG": 128, "CLOCK_REALTIME": 0, "CLOCK_MONOTONIC": 1,
    ]

    static let errnoNames: [String: Int32] = [
        "EPERM": 1, "ENOENT": 2, "EBADF": 9, "EACCES": 13, "ENOSYS": 38, "EINVAL": 22, "ENOTSUP": 95,
    ]
}
