import Glibc
import NSEBroker
import NSEScan
import NSEWire

/// What `--script-help` shows of one script, as the script itself declares it.
public struct ScriptHelpEntry: Sendable, Equatable {
    public var name: String
    public var categories: [String]
    /// The script's `description` as bytes (nil when it has none).
    public var description: [UInt8]?

    public init(name: String, categories: [String], description: [UInt8]?) {
        self.name = name; self.categories = categories; self.description = description
    }
}

/// nmap's `--script-help`: for each selected script, in selection order, a blank
/// line, its name, "Categories: ..." (the script's own list, in its order), its
/// NSEDoc address, then its description with every non-empty line indented by two
/// spaces and nothing else changed (no line is rewrapped, no newline is added).
public enum ScriptHelp {
    public static let nsedocBase = "https://nmap.org/nsedoc/scripts/"

    /// The help text, byte for byte as nmap 7.93 prints it after its "Starting" line.
    public static func format(_ entries: [ScriptHelpEntry]) -> [UInt8] {
        var out: [UInt8] = []
        for e in entries {
            out += Array("\n\(e.name)\nCategories: \(e.categories.joined(separator: " "))\n".utf8)
            out += Array("\(nsedocBase)\(e.name).html\n".utf8)
            if let d = e.description { out += indent(d, by: Array("  ".utf8)) }
        }
        return out
    }

    /// nmap's format_nsedoc: `gsub(text, "([^\n]+)", indent .. "%1")`.
    static func indent(_ text: [UInt8], by prefix: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 20)
        var atLineStart = true
        for b in text {
            if b == UInt8(ascii: "\n") {
                atLineStart = true
            } else if atLineStart {
                out += prefix
                atLineStart = false
            }
            out.append(b)
        }
        return out
    }

    /// Loads every script in a sandboxed child (the broker links no Lua) and collects
    /// its categories and description, in the order of `scripts`. A script that
    /// fails to load is reported through `onWarning` and left out, as nmap leaves
    /// out a script whose required library is missing.
    public static func describe(_ scripts: [ScriptFile], broker config: BrokerConfig, verbosity: Int = 0,
                                debugging: Int = 0,
                                onWarning: ((String) -> Void)? = nil)
        throws -> [ScriptHelpEntry]
    {
        let onWarning = onWarning ?? { ScriptHelp.write(Array("nsebox: \($0)\n".utf8), to: 2) }
        let broker = try Broker(config: config)
        var entries: [ScriptHelpEntry?] = Array(repeating: nil, count: scripts.count)
        var sandboxFailure: String?
        for (i, file) in scripts.enumerated() {
            guard let source = readBytes(file.path) else {
                onWarning("cannot read script \(file.path)")
                continue
            }
            let options: [(String, Value)] = [
                ("verbosity", .int(Int64(verbosity))),
                ("debugging", .int(Int64(debugging))),
                ("selected_by_name", .bool(file.selectedByName)),
                ("forced", .bool(file.forced)),
                ("args", .table([])),
                ("is_privileged", .bool(RawSender.available)),
                ("have_ssl", .bool(true)),
                ("timing_level", .int(3)),
            ]
            let job = ScriptJob(mode: .describe, scriptPath: file.path, scriptName: file.name, source: source,
                                options: options)
            broker.submit(job) { outcome in
                switch outcome.status {
                case "ok":
                    let description: [UInt8]?
                    if case .bytes(let b) = outcome.result["description"] { description = b } else { description = nil }
                    entries[i] = ScriptHelpEntry(
                        name: file.name, categories: outcome.result["categories"].arrayPart.compactMap(\.text),
                        description: description)
                case "sandbox-failed":
                    sandboxFailure = outcome.message ?? "unknown error"
                case "skip":
                    if verbosity > 0 || debugging > 0 { onWarning("Failed to load '\(file.path)'.") }
                default:
                    onWarning("Failed to load \(file.path):\n\(outcome.message ?? outcome.status)")
                }
            }
        }
        broker.runUntilIdle()
        if let sandboxFailure {
            throw SpecError("the sandbox could not be set up: \(sandboxFailure)")
        }
        return entries.compactMap { $0 }
    }

    /// Writes bytes to a descriptor, all of them (retrying short writes and EINTR).
    public static func write(_ bytes: [UInt8], to fd: Int32 = 1) {
        bytes.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.write(fd, p.baseAddress! + off, p.count - off)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return }
                off += n
            }
        }
    }
}
