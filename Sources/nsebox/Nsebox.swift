import ArgumentParser
import Glibc
import NSEBroker
import NSEEngine
import NSEPolicy
import NSEScan
import NSEWire

@main
struct Nsebox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox",
        abstract: "Run nmap's NSE scripts, unmodified, each in its own sandboxed process.",
        discussion: """
            Options follow nmap's: nsebox --script banner,http-title -p 80,8080 127.0.0.1
            Corpus report: nsebox compat [--all | SCRIPT...] [--markdown FILE] (see nsebox compat --help)
            Sandbox policies: nsebox policy check NAME|FILE
            Audit logs: nsebox audit verify|show|pcap FILE; nsebox replay FILE
            """)

    /// `nsebox compat ...` runs the corpus report; anything else is a scan. The
    /// dispatch happens before parsing because the positional targets would take
    /// "compat" as a host name (ArgumentParser parses a command's own positionals
    /// before it looks for a subcommand).
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "compat" {
            CompatCommand.main(Array(args.dropFirst()))
        } else if args.first == "policy" {
            PolicyCommand.main(Array(args.dropFirst()))
        } else if args.first == "audit" {
            AuditCommand.main(Array(args.dropFirst()))
        } else if args.first == "replay" {
            ReplayCommand.main(Array(args.dropFirst()))
        } else {
            Nsebox.main(args)
        }
    }

    @Argument(help: "Targets: addresses, host names, CIDR blocks, ranges such as 127.0.0.1-64.")
    var targets: [String] = []

    @Option(name: .customShort("p"), help: "Ports: 22,80-90,T:8080,U:53 (default: nmap's top 1000 TCP ports).")
    var ports: String?

    @Option(name: .customLong("script"), help: "Scripts: names, categories, globs, files or directories, comma-separated.")
    var script: String = "default"

    @Option(name: .customLong("script-help"), help: "Show help about the scripts this --script expression selects, then exit.")
    var scriptHelp: String?

    @Option(name: .customLong("script-args"), help: "Script arguments: k=v,flag,k={a,b}.")
    var scriptArgs: String?

    @Option(name: .customLong("nmap-xml"), help: "Run scripts on the hosts and ports of an earlier nmap -oX scan instead of scanning.")
    var nmapXML: String?

    @Option(name: .customLong("script-args-file"), help: "Read script arguments from this file (one per line or comma-separated).")
    var scriptArgsFile: String?

    @Option(name: .customLong("script-timeout"), help: "Stop a script instance after this long: 30s, 5m, 1h, 500ms.")
    var scriptTimeout: String?

    @Option(name: .customLong("audit-log"), help: "Record every script's I/O here, one hash-chained JSON line per event (docs/audit.md).")
    var auditLog: String?

    /// Set by `nsebox replay`: the log whose recording the broker answers from.
    @Option(name: .customLong("replay-log"), help: .hidden)
    var replayLog: String?

    @Flag(name: .customLong("script-trace"), help: "Print every script's connects, sends and receives (hex and text) as they happen.")
    var scriptTrace = false

    @Option(name: .customLong("stats-every"), help: "Print a progress line on stderr this often (default 10s; 0 for never).")
    var statsEvery: String = "10s"

    @Flag(name: .customLong("sT", withSingleDash: true), help: "TCP connect scan (the only port scan nsebox does).")
    var connectScan = false

    @Flag(name: .customLong("sU", withSingleDash: true), help: "UDP scan (with nmap's payloads; open|filtered when nothing answers).")
    var udpScan = false

    @Flag(name: .customLong("Pn", withSingleDash: true), help: "Treat every host as up (nsebox never pings).")
    var noPing = false

    @Flag(name: .customShort("n"), help: "No reverse DNS (nsebox does none).")
    var noDNS = false

    @Flag(name: .customShort("v"), help: "More verbose (repeat for more).")
    var verbose: Int

    @Flag(name: .customShort("d"), help: "More debugging output (repeat for more).")
    var debug: Int

    @Option(name: .customLong("datadir"), help: "Look for nmap's data files (scripts, nselib) here first.")
    var datadir: String?

    @Option(name: .customLong("policy"), help: "Sandbox policy: a name in sandbox-policies/ or a file.")
    var policy: String = "default"

    @Option(name: .customLong("max-children"), help: "Script processes alive at once.")
    var maxChildren: Int = 32

    @Option(name: .customLong("oN", withSingleDash: true), help: "Also write the normal report to this file.")
    var normalOutput: String?

    @Option(name: .customLong("oX", withSingleDash: true), help: "Also write nmap's XML report to this file (- for stdout).")
    var xmlOutput: String?

    @Option(name: .customLong("oJ", withSingleDash: true), help: "Also write the JSON report to this file (- for stdout).")
    var jsonOutput: String?

    @Option(name: .customLong("oA", withSingleDash: true), help: "Write BASENAME.nmap, BASENAME.xml and BASENAME.json.")
    var allOutput: String?

    func run() throws {
        do {
            if let scriptHelp {
                try showScriptHelp(scriptHelp)
                return
            }
            try scan()
        } catch let e as SpecError {
            fail(e.message)
        } catch let e as PolicyError {
            fail("policy \(policy): \(e)")
        }
    }

    func fail(_ message: String) -> Never {
        FileHandleOut.stderr("nsebox: \(message)\nQUITTING!\n")
        Glibc.exit(1)
    }

    func scan() throws {
        let env = environment()
        let dirs = ServiceTable.dataDirectories(datadir: datadir, environment: env)
        // The zygote first: its start (exec, sandbox, code onto huge pages) runs on
        // the other CPU while this one reads script.db and the scripts, and its
        // loading of nselib while this one reads nmap-services and the rest.
        let (policyPath, policyText) = try Locations.policy(policy)
        _ = try PolicyParser.parse(policyText)
        _ = policyPath
        var config = BrokerConfig(childPath: try Locations.childExecutable(), policyText: policyText,
                                  dataDirectories: dirs, maxChildren: max(1, maxChildren),
                                  childStderr: env["NSEBOX_CHILD_STDERR"] == "1")
        var zygote = Broker.prestartZygote(config: config)
        // Read once here: the zygote's job and the describe jobs carry the same bytes.
        let scripts = try ScriptCatalog(dataDirectories: dirs).resolve(script).map { $0.reading() }
        var argTexts: [String] = []
        if let scriptArgsFile {
            let path = scriptArgsFile.contains("/") ? scriptArgsFile
                : ServiceTable.locateDataFile(scriptArgsFile, datadir: datadir, environment: env) ?? scriptArgsFile
            var text = try readTextFile(path)
            while text.hasSuffix(",") || text.hasSuffix("\n") { text.removeLast() }
            argTexts.append(text)
        }
        if let scriptArgs { argTexts.append(scriptArgs) }
        let args = try ScriptArgsParser.parse(argTexts.joined(separator: ","))
        zygote = ScanEngine.sendingZygoteJob(zygote, scripts: scripts, scriptArgs: args, verbosity: verbose,
                                             debugging: debug, dataDirectories: dirs)
        guard let servicesPath = ServiceTable.locateDataFile("nmap-services", datadir: datadir, environment: env) else {
            throw SpecError("Unable to find nmap-services in \(dirs.joined(separator: ", ")): is nmap installed?")
        }
        let services = try ServiceTable.load(path: servicesPath)
        // With --nmap-xml the earlier scan names the hosts; targets given too narrow them.
        let imported = try nmapXML.map { try NmapXMLImport.load(path: $0) }
        // A replay scans the recorded hosts (the command line's names are not looked up again).
        let replay = try replayLog.map { try ReplayCommand.loaded ?? RecordedScan(records: AuditCommand.records($0)) }
        var parsedTargets = try replay.map { $0.hosts.filter { !$0.added }.map(\.target) } ?? TargetParser().parse(targets)
        if let imported {
            let wanted = Set(parsedTargets.map(\.address))
            parsedTargets = imported.map(\.target).filter { wanted.isEmpty || wanted.contains($0.address) }
        }
        // As in nmap: TCP unless only -sU is given; both with -sT -sU.
        let scanTCP = connectScan || !udpScan
        var selection: PortSelection
        if let ports {
            selection = try PortSpecParser(services: services).parse(ports, scanTCP: scanTCP, scanUDP: udpScan)
        } else {
            selection = PortSelection(tcp: services.topPorts(1000, protocol: .tcp), udp: services.topPorts(1000, protocol: .udp))
        }
        if !scanTCP { selection.tcp = [] }
        if !udpScan {
            if !selection.udp.isEmpty && ports != nil {
                FileHandleOut.stderr("WARNING: Your ports include \"U:\" but you haven't specified UDP scan with -sU.\n")
            }
            selection.udp = []
        }
        let timeout = try scriptTimeout.map(TimeSpec.seconds)
        let progressEvery = try TimeSpec.seconds(statsEvery)
        config.auditPath = auditLog
        config.scriptTrace = scriptTrace
        config.recording = replay?.recording
        var options = ScanOptions(targets: parsedTargets, ports: selection, scripts: scripts, scriptArgs: args,
                                  verbosity: verbose, debugging: debug, services: services, broker: config,
                                  scriptTimeout: timeout)
        // "-oX -" or "-oJ -" puts that format on stdout instead of the normal report,
        // as nmap does; messages then go to stderr so stdout stays parseable.
        let machineOnStdout = xmlOutput == "-" || jsonOutput == "-"
        let screen: (String) -> Void = { text in if !machineOnStdout { FileHandleOut.stdout(text) } }
        let start = NormalReport.header(startTime: nowSeconds())
        screen(start)
        if parsedTargets.isEmpty {
            FileHandleOut.put(machineOnStdout ? 2 : 1, "WARNING: No targets were specified, so 0 hosts scanned.\n")
        }
        options.progressEvery = progressEvery
        if udpScan, let payloadPath = ServiceTable.locateDataFile("nmap-payloads", datadir: datadir, environment: env) {
            options.udpPayloads = try UDPPayloads.load(path: payloadPath)
        }
        options.imported = imported?.filter { h in parsedTargets.contains { $0.address == h.target.address } }
        options.commandLine = CommandLine.arguments
        if let replay { options.replayHosts = Dictionary(replay.hosts.map { ($0.target.address, $0) }) { a, _ in a } }
        let engine = try ScanEngine(options: options, zygote: zygote)
        engine.onHostsDone = { screen(NormalReport.renderHosts($0)) }
        if machineOnStdout { engine.onOutputLine = { FileHandleOut.stderr($0 + "\n") } }
        let report = try engine.run()
        // The whole normal report again, for -oN and -oA only (the screen had its
        // hosts as they were done): 1,920 script lines take milliseconds.
        let toFile = (normalOutput.map { $0 != "-" } ?? false) || allOutput != nil
        let body = toFile ? NormalReport.render(report, verbosity: verbose) : ""
        screen(NormalReport.renderPostScan(report) + NormalReport.footer(report))
        if let normalOutput, normalOutput != "-" {
            try writeFile(normalOutput, start + body + NormalReport.footer(report))
        }
        let context = ReportContext(commandLine: CommandLine.arguments, scannedTCP: selection.tcp,
                                    verbosity: verbose, debugging: debug, services: services)
        for (path, text) in [(xmlOutput, { XMLReport.render(report, context: context) }),
                             (jsonOutput, { JSONReport.render(report, context: context) })] {
            guard let path else { continue }
            if path == "-" { FileHandleOut.stdout(text()) } else { try writeFile(path, text()) }
        }
        if let allOutput {
            try writeFile(allOutput + ".nmap", start + body + NormalReport.footer(report))
            try writeFile(allOutput + ".xml", XMLReport.render(report, context: context))
            try writeFile(allOutput + ".json", JSONReport.render(report, context: context))
        }
        if let replay { ReplayCommand.finish(replay.recording) }
        // Everything is written: the process ends here, its zygote first, without
        // freeing the scan's hosts, results and sessions one by one after the
        // report (the kernel frees them at once).
        engine.finish()
        Glibc.exit(0)
    }

    /// nmap's --script-help: the selected scripts' names, categories, NSEDoc
    /// addresses and descriptions, without scanning.
    func showScriptHelp(_ expression: String) throws {
        let env = environment()
        let dirs = ServiceTable.dataDirectories(datadir: datadir, environment: env)
        FileHandleOut.stdout(NormalReport.header(startTime: nowSeconds()))
        let scripts = try ScriptCatalog(dataDirectories: dirs).resolve(expression)
        let (_, policyText) = try Locations.policy(policy)
        _ = try PolicyParser.parse(policyText)
        let config = BrokerConfig(childPath: try Locations.childExecutable(), policyText: policyText,
                                  dataDirectories: dirs, maxChildren: max(1, maxChildren),
                                  childStderr: env["NSEBOX_CHILD_STDERR"] == "1")
        let entries = try ScriptHelp.describe(scripts, broker: config, verbosity: verbose, debugging: debug)
        ScriptHelp.write(ScriptHelp.format(entries))
    }

    func environment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}

func nowSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SpecError("cannot write \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var t = text
    t.withUTF8 { p in _ = write(fd, p.baseAddress, p.count) }
}

enum FileHandleOut {
    static func stdout(_ s: String) { put(1, s) }
    static func stderr(_ s: String) { put(2, s) }
    static func put(_ fd: Int32, _ s: String) {
        var s = s
        s.withUTF8 { p in
            var off = 0
            while off < p.count {
                let n = write(fd, p.baseAddress! + off, p.count - off)
                if n <= 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}
