import ArgumentParser
import Glibc
import NSEBroker
import NSEEngine
import NSEPolicy
import NSEScan

/// `nsebox compat [--all | SCRIPT...] [--markdown FILE]`: loads each script in the
/// sandbox and evaluates its rules on sample tables (see `Compat`), one line per
/// script, then a summary line.
///
/// Dispatched by `Nsebox.main` when the first argument is "compat", before the main
/// command parses anything: the main command's positional targets would otherwise
/// take "compat" as a host name.
struct CompatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox compat",
        abstract: "Load nmap's scripts in the sandbox and evaluate their rules on sample tables.",
        discussion: """
            Prints per script 'NAME: loads, rules evaluate (...)' or 'NAME: ERROR MESSAGE', then \
            'N of M scripts load, K of R rules evaluate without error'. Rules run with host 127.0.0.1, \
            an open 80/tcp (http) and an open 53/udp (domain), and can only connect to 127.0.0.1.
            """)

    @Flag(name: .customLong("all"), help: "Every script in the scripts/ directory of the data directories.")
    var all = false

    @Argument(help: "Scripts: names, categories, globs or files, as --script takes them.")
    var scripts: [String] = []

    @Option(name: .customLong("markdown"), help: "Also write the report, failures grouped by cause, to this markdown file.")
    var markdown: String?

    @Option(name: .customLong("datadir"), help: "Look for nmap's data files (scripts, nselib) here first.")
    var datadir: String?

    @Option(name: .customLong("policy"), help: "Sandbox policy: a name in sandbox-policies/ or a file.")
    var policy: String = "default"

    @Option(name: .customLong("max-children"), help: "Script processes alive at once.")
    var maxChildren: Int = 32

    @Option(name: .customLong("timeout"), help: "Stop a script's load and rules after this long: 30s, 1m.")
    var timeout: String = "60s"

    func validate() throws {
        if all == !scripts.isEmpty {
            throw ValidationError("give --all or script names, not both and not neither")
        }
    }

    func run() throws {
        do {
            try report()
        } catch let e as SpecError {
            FileHandleOut.stderr("nsebox: \(e.message)\nQUITTING!\n")
            Glibc.exit(1)
        } catch let e as PolicyError {
            FileHandleOut.stderr("nsebox: policy \(policy): \(e)\nQUITTING!\n")
            Glibc.exit(1)
        }
    }

    private func report() throws {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        let dirs = ServiceTable.dataDirectories(datadir: datadir, environment: env)
        let files = all ? Compat.allScripts(dataDirectories: dirs)
            : try ScriptCatalog(dataDirectories: dirs).resolve(scripts.joined(separator: ","))
        if files.isEmpty { throw SpecError("no scripts found in \(dirs.map { $0 + "/scripts" }.joined(separator: ", "))") }
        let (_, policyText) = try Locations.policy(policy)
        _ = try PolicyParser.parse(policyText)
        let seconds = try TimeSpec.seconds(timeout)
        let config = BrokerConfig(childPath: try Locations.childExecutable(), policyText: policyText,
                                  dataDirectories: dirs, maxChildren: max(1, maxChildren),
                                  childStderr: env["NSEBOX_CHILD_STDERR"] == "1")
        // Lines in the order the scripts were given, each as soon as it and all
        // before it are done.
        let order = Dictionary(files.enumerated().map { ($0.element.path, $0.offset) }, uniquingKeysWith: { a, _ in a })
        var done: [Int: CompatResult] = [:]
        var next = 0
        let results = try Compat.run(files, broker: config, timeout: seconds > 0 ? seconds : 60) { r in
            guard let i = order[r.path] else { return }
            done[i] = r
            while let ready = done[next] {
                FileHandleOut.stdout(Compat.line(ready) + "\n")
                done[next] = nil
                next += 1
            }
        }
        let summary = Compat.summary(results)
        FileHandleOut.stdout(summary + "\n")
        if let markdown {
            var command = "nsebox compat"
            if let datadir { command += " --datadir \(datadir)" }
            command += all ? " --all" : " " + scripts.joined(separator: " ")
            command += " --markdown \(markdown)"
            // As invoked (".build/release/nsebox ..."), so the file says how it was made.
            let program = CommandLine.arguments.first.map { $0.contains("/") ? $0 : "nsebox" } ?? "nsebox"
            command = program + command.dropFirst("nsebox".count)
            try writeFile(markdown, Compat.markdown(results, command: command))
        }
    }
}
