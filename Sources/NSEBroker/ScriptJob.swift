import NSEPolicy
import NSEWire

/// One unit of work for a child: describe a script, run one script instance, or
/// evaluate a script's rules on sample tables (`nsebox compat`).
public struct ScriptJob: Sendable {
    /// `compile`: no script; compile the nselib modules named in the option
    /// `modules` and return their bytecode (`CompiledModules`).
    public enum Mode: String, Sendable { case describe, instance, rules, compile }
    public var mode: Mode
    public var scriptPath: String
    public var scriptName: String
    public var source: [UInt8]
    /// "prerule", "hostrule", "portrule" or "postrule" (instances only).
    public var rule: String?
    public var host: Value?
    public var port: Value?
    /// The host registry this instance sees (its host's address), if any.
    public var hostKey: String?
    /// Engine options the script can read: verbosity, debugging, args, ...
    public var options: [(String, Value)]
    /// Where the instance may connect: the hosts under scan.
    public var scope: NetworkScope
    /// Wall-clock seconds the instance may run (--script-timeout); nil: no limit.
    public var timeout: Double?
    /// What the policy lets this script do through the broker.
    public var rights = ScriptRights()

    public init(mode: Mode, scriptPath: String, scriptName: String, source: [UInt8], rule: String? = nil,
                host: Value? = nil, port: Value? = nil, hostKey: String? = nil,
                options: [(String, Value)] = [], scope: NetworkScope = NetworkScope(), timeout: Double? = nil,
                rights: ScriptRights = ScriptRights()) {
        self.mode = mode; self.scriptPath = scriptPath; self.scriptName = scriptName; self.source = source
        self.rule = rule; self.host = host; self.port = port; self.hostKey = hostKey
        self.options = options; self.scope = scope; self.timeout = timeout; self.rights = rights
    }

    /// How the child gets its script: the chunk the zygote it was forked from
    /// loaded of this very source, that chunk's bytecode (a child the zygote did
    /// not fork), or the source.
    enum Code { case preloaded, bytecode([UInt8]), source }

    /// The job as the child receives it in the `run` message, with the seed of the
    /// instance's random stream.
    func wireValue(randomSeed: [UInt8], spinMicros: Int = 0, waitInRead: Bool = false, code: Code = .source) -> Value {
        var fields: [(String, Value)] = [
            ("mode", .string(mode.rawValue)),
            ("script_path", .string(scriptPath)),
            ("script_name", .string(scriptName)),
        ]
        switch code {
        case .preloaded: fields.append(("script_preloaded", .bool(true)))
        case .bytecode(let b): fields.append(("script_bytecode", .bytes(b)))
        case .source: fields.append(("script_source", .bytes(source)))
        }
        if let rule {
            fields.append(("rule", .string(rule)))
            fields.append(("script_type", .string(rule)))
        }
        if let host { fields.append(("host", host)) }
        if let port { fields.append(("port", port)) }
        if let threads = rights.threads { fields.append(("thread_limit", .int(Int64(threads)))) }
        fields.append(("random_seed", .bytes(randomSeed)))
        if spinMicros > 0 { fields.append(("spin_us", .int(Int64(spinMicros)))) }
        if waitInRead { fields.append(("wait_in_read", .bool(true))) }
        fields += options
        return .record(fields)
    }
}

/// The hosts a script may reach: their addresses, and the names the user gave for
/// them. A name is never looked up on a script's behalf (that would let a script
/// leak data through DNS and stall the broker): only the user's names resolve.
public struct NetworkScope: Sendable {
    public var addresses: Set<String>
    public var names: [String: String]
    public init(addresses: Set<String> = [], names: [String: String] = [:]) {
        self.addresses = addresses; self.names = names
    }

    /// The address a script's host argument stands for, if it is in scope.
    public func address(for host: String) -> String? {
        if addresses.contains(host) { return host }
        return names[host] ?? names[host.lowercased()]
    }
}

/// What came of a job.
public struct ScriptOutcome: Sendable {
    /// From the child: "output", "empty", "no-match", "no-rule", "try", "error", "skip",
    /// "ok" (describe), "sandbox-failed"; from the broker: "crashed", "protocol-error",
    /// "timeout".
    public var status: String
    /// The output text as the script produced it (bytes, not necessarily UTF-8).
    public var output: [UInt8]?
    public var structured: Value?
    public var message: String?
    /// The child's whole result table (describe puts rules, categories, ... there).
    public var result: Value
    public var exit: String?

    public init(status: String, output: [UInt8]? = nil, structured: Value? = nil, message: String? = nil,
                result: Value = .none, exit: String? = nil) {
        self.status = status; self.output = output; self.structured = structured
        self.message = message; self.result = result; self.exit = exit
    }
}

/// A line a script logged (print, nmap.log_write, stdnse.debug...).
public struct ScriptLog: Sendable {
    public var script: String
    public var channel: String
    public var text: String
}
