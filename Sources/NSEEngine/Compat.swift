import Glibc
import NSEBroker
import NSEScan
import NSEWire

/// One call of a script's rule on the sample tables.
public struct CompatRuleCall: Sendable, Equatable {
    /// "prerule", "hostrule", "portrule" or "postrule".
    public var rule: String
    /// The sample port for a portrule ("80/tcp"), nil for the other rules.
    public var sample: String?
    /// What the rule returned (as a condition), when it did not raise an error.
    public var value: Bool?
    /// The error the rule raised.
    public var error: String?

    /// "portrule(80/tcp)", "hostrule".
    public var label: String { sample.map { "\(rule)(\($0))" } ?? rule }
}

/// What `nsebox compat` learnt of one script.
public struct CompatResult: Sendable, Equatable {
    public var name: String
    public var path: String
    /// Loading failed with this message (nil: the script loaded).
    public var loadError: String?
    /// Every rule call, in the order prerule, hostrule, portrule (per sample), postrule.
    public var calls: [CompatRuleCall]

    public var loads: Bool { loadError == nil }
    public var rulesEvaluate: Bool { loads && calls.allSatisfy { $0.error == nil } }
}

/// The corpus report: each script loaded in a sandboxed child as nmap would load it,
/// then each of its rules called on a sample host (127.0.0.1) and sample ports (an
/// open TCP 80/http and an open UDP 53/domain), prerule and postrule with nothing.
/// Rules may do I/O: the jobs' network scope is 127.0.0.1 alone.
public enum Compat {
    public static let sampleAddress = "127.0.0.1"

    public static func sampleHost() -> Value {
        .record([
            ("ip", .string(sampleAddress)),
            ("name", .string("localhost")),
            ("targetname", .string("localhost")),
            ("reason", .string("user-set")),
            ("reason_ttl", .int(0)),
            ("directly_connected", .bool(true)),
            ("bin_ip", .bytes([127, 0, 0, 1])),
            ("interface", .string("lo")),
            ("times", .record(["srtt": .double(0.001), "rttvar": .double(0.001), "timeout": .double(1.0)])),
        ])
    }

    public static func samplePorts() -> [Value] {
        func port(_ number: Int64, _ proto: String, _ service: String, _ reason: String) -> Value {
            .record([
                "number": .int(number), "protocol": .string(proto), "state": "open", "reason": .string(reason),
                "reason_ttl": .int(0), "service": .string(service),
                "version": .record([
                    ("name", .string(service)), ("name_confidence", .double(3.0)),
                    ("service_tunnel", "none"), ("service_dtype", "table"),
                ]),
            ])
        }
        return [port(80, "tcp", "http", "syn-ack"), port(53, "udp", "domain", "udp-response")]
    }

    /// Loads and evaluates every script, `maxChildren` at a time; results in the
    /// order of `scripts`. `progress` is called as each one completes.
    public static func run(_ scripts: [ScriptFile], broker config: BrokerConfig, timeout: Double = 60,
                           progress: ((CompatResult) -> Void)? = nil) throws -> [CompatResult] {
        let broker = try Broker(config: config)
        let ports = samplePorts()
        broker.portState = { host, number, proto in
            guard host == sampleAddress else { return nil }
            return ports.first { $0["number"].int == Int64(number) && $0["protocol"].text == proto }.map(EncodedValue.init)
        }
        broker.ports = { host, proto, state in
            guard host == sampleAddress else { return [] }
            return ports.filter { (proto.isEmpty || $0["protocol"].text == proto) && (state.isEmpty || $0["state"].text == state) }
        }
        let scope = NetworkScope(addresses: [sampleAddress])
        var results: [CompatResult?] = Array(repeating: nil, count: scripts.count)
        var sandboxFailure: String?
        for (i, file) in scripts.enumerated() {
            guard let source = readBytes(file.path) else {
                let r = CompatResult(name: file.name, path: file.path, loadError: "cannot read \(file.path)", calls: [])
                results[i] = r
                progress?(r)
                continue
            }
            let options: [(String, Value)] = [
                ("verbosity", .int(0)), ("debugging", .int(0)),
                ("selected_by_name", .bool(false)), ("forced", .bool(false)),
                ("args", .table([])), ("is_privileged", .bool(RawSender.available)),
                ("have_ssl", .bool(false)), ("timing_level", .int(3)),
                ("sample_ports", .array(ports)),
            ]
            let job = ScriptJob(mode: .rules, scriptPath: file.path, scriptName: file.name, source: source,
                                host: sampleHost(), hostKey: sampleAddress, options: options, scope: scope,
                                timeout: timeout)
            broker.submit(job) { outcome in
                if outcome.status == "sandbox-failed" { sandboxFailure = outcome.message ?? "unknown error" }
                let r = result(of: outcome, file: file)
                results[i] = r
                progress?(r)
            }
        }
        broker.runUntilIdle()
        if let sandboxFailure {
            throw SpecError("the sandbox could not be set up: \(sandboxFailure)")
        }
        return results.compactMap { $0 }
    }

    static func result(of outcome: ScriptOutcome, file: ScriptFile) -> CompatResult {
        guard outcome.status == "ok" else {
            let message = outcome.message ?? outcome.status
            let text = ["error", "skip"].contains(outcome.status) ? message : "\(outcome.status): \(message)"
            return CompatResult(name: file.name, path: file.path, loadError: text, calls: [])
        }
        let calls = outcome.result["calls"].arrayPart.map { c in
            CompatRuleCall(rule: c["rule"].text ?? "?", sample: c["sample"].text,
                           value: { if case .bool(let b) = c["value"] { return b } else { return nil } }(),
                           error: c["error"].text)
        }
        return CompatResult(name: file.name, path: file.path, loadError: nil, calls: calls)
    }

    /// Messages on one line: newlines and tabs become spaces, runs of them one.
    static func oneLine(_ s: String) -> String {
        var out = ""
        var lastSpace = false
        for ch in s {
            let space = ch == "\n" || ch == "\t" || ch == "\r" || ch == " "
            if space { if !lastSpace && !out.isEmpty { out.append(" ") } } else { out.append(ch) }
            lastSpace = space
        }
        return out.hasSuffix(" ") ? String(out.dropLast()) : out
    }

    /// `NAME: loads, rules evaluate (hostrule=false portrule(80/tcp)=true ...)`,
    /// `NAME: ERROR MESSAGE` when it does not load, and
    /// `NAME: ERROR in RULE: MESSAGE` when it loads but a rule raises an error.
    public static func line(_ r: CompatResult) -> String {
        if let e = r.loadError { return "\(r.name): ERROR \(oneLine(e))" }
        if let bad = r.calls.first(where: { $0.error != nil }) {
            return "\(r.name): ERROR in \(bad.label): \(oneLine(bad.error ?? ""))"
        }
        let values = r.calls.map { "\($0.label)=\($0.value == true)" }.joined(separator: " ")
        return "\(r.name): loads, rules evaluate (\(values))"
    }

    public static func summary(_ results: [CompatResult]) -> String {
        let loaded = results.filter(\.loads).count
        let calls = results.flatMap(\.calls)
        let good = calls.filter { $0.error == nil }.count
        return "\(loaded) of \(results.count) scripts load, \(good) of \(calls.count) rules evaluate without error"
    }

    /// What a failure is grouped under in the report: a missing module by name, a
    /// syntax error, a timeout, otherwise the message without its file:line prefix.
    public static func cause(of message: String) -> String {
        if let name = capture(message, after: "module '", until: "' not found") { return "missing module '\(name)'" }
        if message.hasPrefix("timeout") { return "timed out" }
        if message.hasPrefix("crashed") { return "child crashed" }
        var first = String(message.split(separator: "\n").first ?? "")
        // Drop "path:line: " prefixes (a script's or a library's).
        first = withoutLocation(first)
        if message.contains("syntax error") || message.contains(" expected near ") || message.contains("unexpected symbol") {
            return "does not compile in Lua 5.4: \(first)"
        }
        return first
    }

    /// The text after the last "FILE:LINE: " in a Lua error message.
    static func withoutLocation(_ s: String) -> String {
        let b = Array(s.utf8)
        var start = 0
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: ":") {
                var j = i + 1
                while j < b.count, b[j] >= UInt8(ascii: "0"), b[j] <= UInt8(ascii: "9") { j += 1 }
                if j > i + 1, j + 1 < b.count, b[j] == UInt8(ascii: ":"), b[j + 1] == UInt8(ascii: " ") {
                    start = j + 2
                    i = j + 2
                    continue
                }
            }
            i += 1
        }
        return String(decoding: b[start...], as: UTF8.self)
    }

    private static func capture(_ s: String, after: String, until: String) -> String? {
        guard let a = s.firstRange(of: after), let b = s[a.upperBound...].firstRange(of: until) else { return nil }
        let name = s[a.upperBound..<b.lowerBound]
        return name.isEmpty || name.contains("'") ? nil : String(name)
    }

    /// The report as markdown: summary, failures grouped by cause (largest group
    /// first), then every script's line.
    public static func markdown(_ results: [CompatResult], command: String) -> String {
        var out = "# nmap's NSE scripts under nsebox\n\n"
        out += "Each script is loaded in its own sandboxed child as nmap loads it, then each of its rules is "
        out += "called with sample tables: `prerule()`, `hostrule(host)`, `portrule(host, port)` for an open "
        out += "80/tcp (http) and an open 53/udp (domain) on 127.0.0.1, and `postrule()`. Rules may do I/O; "
        out += "they can only reach 127.0.0.1.\n\n"
        out += "Regenerate this file with:\n\n```\n\(command)\n```\n\n"
        out += "**\(summary(results)).**\n\n"
        out += knownDifferences
        let failures = results.filter { !$0.loads }
        out += "## Scripts that do not load (\(failures.count))\n\n"
        out += groups(failures.map { ($0.name, $0.loadError ?? "") })
        let ruleFailures = results.filter { $0.loads && !$0.rulesEvaluate }
        out += "## Scripts whose rules raise an error (\(ruleFailures.count))\n\n"
        out += groups(ruleFailures.map { r in
            let bad = r.calls.first { $0.error != nil }!
            return (r.name, "\(bad.label): \(bad.error ?? "")")
        }, causeOf: { msg in
            let afterLabel = msg.firstRange(of: ": ").map { String(msg[$0.upperBound...]) } ?? msg
            return cause(of: afterLabel)
        })
        out += "## Every script\n\n```\n"
        for r in results { out += line(r) + "\n" }
        out += "```\n"
        return out
    }

    private static func groups(_ items: [(String, String)], causeOf: (String) -> String = cause(of:)) -> String {
        if items.isEmpty { return "None.\n\n" }
        var byCause: [String: [(String, String)]] = [:]
        for item in items { byCause[causeOf(item.1), default: []].append(item) }
        var out = ""
        for (c, list) in byCause.sorted(by: { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }) {
            out += "### \(markdownEscaped(c)) (\(list.count))\n\n"
            for (name, message) in list {
                out += "- `\(name)`: \(markdownEscaped(oneLine(message)))\n"
            }
            out += "\n"
        }
        return out
    }

    private static func markdownEscaped(_ s: String) -> String {
        var out = ""
        for ch in s {
            if "\\`*_[]<>|#".contains(ch) { out.append("\\") }
            out.append(ch)
        }
        return out
    }

    /// Every *.nse under the data directories' scripts/, the first of each name, by name.
    public static func allScripts(dataDirectories: [String]) -> [ScriptFile] {
        var seen: [String: ScriptFile] = [:]
        for dir in dataDirectories {
            let scripts = (dir.hasSuffix("/") ? dir : dir + "/") + "scripts"
            guard let d = opendir(scripts) else { continue }
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafePointer(to: e.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard name.hasSuffix(".nse"), name.count > 4 else { continue }
                let base = String(name.dropLast(4))
                if seen[base] == nil {
                    seen[base] = ScriptFile(path: scripts + "/" + name, name: base, selectedByName: true, forced: false)
                }
            }
        }
        return seen.values.sorted { $0.name < $1.name }
    }
}
