import Glibc
import NSEBroker
import NSEPolicy
import NSEScan
import NSEWire

/// Runs a scan: describes the scripts, runs the pre-scan scripts, probes the ports,
/// runs host and port scripts, then post-scan scripts, one sandboxed child per
/// script instance, runlevel by runlevel as nmap orders them.
public final class ScanEngine {
    let options: ScanOptions
    let broker: Broker
    /// The sandbox policy: which scripts run, and each one's rights in the broker.
    let policy: Policy
    /// Warnings for the user (stderr), in the order they happened.
    public var onWarning: (String) -> Void = { FileHandleStderr.write("nsebox: " + $0 + "\n") }
    /// The progress line of long scans: stderr, never the report.
    public var onProgress: (String) -> Void = { FileHandleStderr.write("nsebox: " + $0 + "\n") }
    /// Lines scripts log to nmap's stdout channel ("NSE: ...").
    public var onOutputLine: (String) -> Void = { FileHandleStderr.put(1, $0 + "\n") }

    private var hosts: [HostReport] = []
    /// How each host is reached, learnt once (after its port scan filled the neighbour table).
    private var routes: [String: HostRoute] = [:]
    private var hostIndex: [String: Int] = [:]
    /// Script instances completed so far, in every phase.
    private var instancesDone = 0

    /// `zygote`: one started early for this scan (`Broker.prestartZygote` with
    /// the same child and policy), which the broker takes over.
    public init(options: ScanOptions, zygote: consuming ZygoteStart? = nil) throws {
        self.options = options
        self.policy = try PolicyParser.parse(options.broker.policyText)
        var config = options.broker
        config.userFiles += ScriptArgsParser.strings(in: options.scriptArgs)
        self.broker = try Broker(config: config, zygote: zygote)
        broker.onLog = { [unowned self] log in self.handleLog(log) }
        broker.onDenied = { [unowned self] script, what in self.onWarning("\(script): \(what)") }
        broker.portState = { [unowned self] host, port, proto in
            self.findPort(host, port, proto).map { self.cachedPortTable($0.0, $0.1) }
        }
        broker.addTargets = { [unowned self] specs in self.addTargets(specs) }
        if options.broker.scriptTrace {
            let transcript = Transcript()
            broker.audit?.tap = { [unowned self] event, instance, _, target, fields in
                var values: [String: String] = [:]
                for (k, v) in fields { values[k] = v.text }
                for line in transcript.lines(event: event, instance: instance, target: target, fields: values) { onOutputLine(line) }
            }
        }
        broker.newTargetsCount = { [unowned self] in self.addedTargets }
        broker.ports = { [unowned self] host, proto, state in
            guard let host, let h = self.hostIndex[host] else { return [] }
            return self.hosts[h].ports
                .filter { (proto.isEmpty || $0.proto.rawValue == proto) && (state.isEmpty || $0.state == state) }
                .sorted { $0.port < $1.port }
                .map(self.portTable)
        }
        broker.portUpdate = { [unowned self] host, port, proto, update in
            guard let (h, p) = self.findPort(host, port, proto) else { return }
            self.portTables[h << 32 | p] = nil
            switch update {
            case .state(let s): self.hosts[h].ports[p].state = s
            case .version(let v): self.hosts[h].ports[p].version = v
            }
        }
    }

    /// Called once the host phase is over, before post-scan scripts run, so the host
    /// reports can be printed when nmap prints them.
    public var onHostsDone: (ScanReport) -> Void = { _ in }

    /// nmap's -v/-d messages about the scan ("verbose" also shows at -d, as in nmap).
    private var verbose: Bool { options.verbosity > 0 || options.debugging > 0 }
    private func say(_ line: String, ifVerbose level: Int = 1) {
        if options.verbosity >= level || options.debugging > 0 { onOutputLine(line) }
    }

    /// Ends the scan's processes (its zygote, so every instance) before the
    /// command exits.
    public func finish() {
        broker.shutdown()
        BrokerStats.reportCPU(broker)
    }

    public func run() throws -> ScanReport {
        let start = wallClock()
        var report = ScanReport(startTime: start, elapsed: 0)
        broker.audit?.record("scan", instance: "", script: "", target: "", [("arguments", .list(options.commandLine))])
        let scripts = try describeAll()
        say("NSE: Loaded \(scripts.count) scripts for scanning.")
        widenScope(with: options.targets)

        say("NSE: Script Pre-scanning.")
        report.preScripts = runPhase(scripts, rule: "prerule", scope: scope, instances: { _ in [(nil, nil, nil)] })
        BrokerStats.report("after pre-scan")

        if let imported = options.imported {
            let now = wallClock()
            for h in imported {
                hostIndex[h.target.address] = hosts.count
                hosts.append(HostReport(target: h.target, latency: nil, ports: h.ports, startTime: now, hostFields: h.hostFields))
                recordHost(hosts[hosts.count - 1], added: false)
            }
            scriptHosts(hosts.indices, scripts)
        } else {
            scanAndScript(options.targets, scripts)
        }
        // Targets scripts added (nmap.add_targets) join the scan, as in nmap.
        while !pendingTargets.isEmpty {
            let batch = pendingTargets
            pendingTargets = []
            widenScope(with: batch)
            scanAndScript(batch, scripts)
        }
        report.hosts = hosts
        BrokerStats.report("after host scripts", broker)
        onHostsDone(report)
        say("NSE: Script Post-scanning.")
        report.postScripts = runPhase(scripts, rule: "postrule", scope: scope, instances: { _ in [(nil, nil, nil)] })
        BrokerStats.report("after post-scan")
        broker.audit?.record("end", instance: "", script: "", target: "", [("hosts", .int(Int64(hosts.count)))])
        broker.audit?.close()
        report.elapsed = wallClock() - start
        return report
    }

    /// Where scripts may connect: every host of the scan so far.
    private var scope = NetworkScope()
    private var pendingTargets: [ScanTarget] = []
    private var addedTargets = 0

    private func widenScope(with targets: [ScanTarget]) {
        for t in targets {
            scope.addresses.insert(t.address)
            if let n = t.targetName, scope.names[n] == nil { scope.names[n] = t.address }
        }
    }

    /// nmap.add_targets: only with the `newtargets` script argument, as nselib's
    /// target library requires, checked again here; at most `max-newtargets`.
    private func addTargets(_ specs: [String]) -> (Int, String?) {
        let args = options.scriptArgs
        guard !args["newtargets"].isNone || args.arrayPart.contains(.string("newtargets")) else {
            return (0, "to add targets run with --script-args 'newtargets'")
        }
        let limit = Int(args["max-newtargets"].text ?? "") ?? 0
        var added = 0
        for spec in specs {
            guard let parsed = try? TargetParser().parse([spec]) else { continue }
            for t in parsed where hostIndex[t.address] == nil && !pendingTargets.contains(where: { $0.address == t.address }) {
                if limit > 0 && addedTargets >= limit { return (added, nil) }
                pendingTargets.append(t)
                added += 1
                addedTargets += 1
            }
        }
        return (added, nil)
    }

    /// Scans targets' ports, then runs the host phase on them.
    private func scanAndScript(_ targets: [ScanTarget], _ scripts: [ScriptInfo]) {
        let first = hosts.count
        probePorts(targets)
        scriptHosts(first..<hosts.count, scripts)
    }

    /// The host phase for some hosts: hostrule per host, portrule per scriptable port.
    private func scriptHosts(_ range: Range<Int>, _ scripts: [ScriptInfo]) {
        guard !range.isEmpty else { return }
        say(range.count == 1 ? "NSE: Script scanning \(hosts[range.lowerBound].target.address)." : "NSE: Script scanning \(range.count) hosts.")
        _ = runPhase(scripts, rule: "hostrule|portrule", scope: scope, instances: { [unowned self] rule in
            var out: [(ScanTarget?, PortReport?, Int?)] = []
            for i in range {
                let h = self.hosts[i]
                if rule == "hostrule" { out.append((h.target, nil, i)) }
                else {
                    for p in h.ports where ["open", "open|filtered", "unfiltered"].contains(p.state) {
                        out.append((h.target, p, i))
                    }
                }
            }
            return out
        }, place: { [unowned self] hostIndex, port, result in
            guard let hostIndex else { return }
            if let port, let pi = self.hosts[hostIndex].ports.firstIndex(where: { $0.port == port.port && $0.proto == port.proto }) {
                self.hosts[hostIndex].ports[pi].scripts.append(result)
            } else {
                self.hosts[hostIndex].hostScripts.append(result)
            }
        })
        let end = wallClock()
        for i in range { hosts[i].endTime = end }
    }

    /// The connect scan of every target's ports, with nmap's -v lines.
    private func probePorts(_ targets: [ScanTarget]) {
        let probeStart = wallClock()
        let total = targets.count * options.ports.tcp.count
        if verbose && !targets.isEmpty {
            onOutputLine("Initiating Connect Scan at \(NormalReport.clock(probeStart))")
            let who = targets.count == 1 ? targets[0].address : "\(targets.count) hosts"
            onOutputLine("Scanning \(who) [\(options.ports.tcp.count) port\(options.ports.tcp.count == 1 ? "" : "s")\(targets.count > 1 ? "/host" : "")]")
        }
        let hostsStart = wallClock()
        let probe = PortProbe(reactor: broker.reactor)
        if options.replayHosts == nil {
            probe.scan(hosts: targets.map(\.address), ports: options.ports.tcp)
            if !options.ports.udp.isEmpty {
                probe.scanUDP(hosts: targets.map(\.address), ports: options.ports.udp, payloads: options.udpPayloads)
            }
        }
        for t in targets {
            var ports = (probe.results[t.address] ?? []).sorted { ($0.proto, $0.port) < ($1.proto, $1.port) }.map {
                PortReport(port: $0.port, proto: $0.proto, state: $0.state, reason: $0.reason,
                           service: options.services.displayName(port: $0.port, protocol: $0.proto))
            }
            let answered = probe.rtts[t.address] ?? []
            let rtts = answered.sorted()
            var latency = rtts.isEmpty ? nil : rtts[rtts.count / 2]
            var times = HostTimes()
            for rtt in answered { times.add(rtt) }
            if let replayHosts = options.replayHosts {
                // A replay scans nothing: the ports are the recorded ones.
                ports = replayHosts[t.address]?.ports ?? []
                latency = replayHosts[t.address]?.latency
                times = replayHosts[t.address]?.times ?? HostTimes()
            }
            if verbose { for p in ports where p.state == "open" { onOutputLine("Discovered open port \(p.port)/\(p.proto.rawValue) on \(t.address)") } }
            hostIndex[t.address] = hosts.count
            hosts.append(HostReport(target: t, latency: latency, ports: ports, times: times, startTime: hostsStart))
            recordHost(hosts[hosts.count - 1], added: addedTargets > 0 && !options.targets.contains(t))
        }
        if verbose && !targets.isEmpty {
            let now = wallClock()
            onOutputLine("Completed Connect Scan at \(NormalReport.clock(now)), \(NormalReport.format2(now - probeStart))s elapsed (\(total) total ports)")
        }
    }

    /// The audit log's `host` record: the port scan's result, which a replay reuses.
    private func recordHost(_ h: HostReport, added: Bool) {
        broker.audit?.record("host", instance: "", script: "", target: h.target.address, [
            ("address", .string(h.target.address)), ("targetname", .string(h.target.targetName ?? "")),
            ("latency", h.latency.map { .double($0) } ?? .int(-1)), ("added", .bool(added)),
            ("srtt_us", .int(Int64(h.times.srtt))), ("rttvar_us", .int(Int64(h.times.rttvar))),
            ("timeout_us", .int(Int64(h.times.timeout))),
            ("ports", .list(h.ports.map { "\($0.port)/\($0.proto.rawValue) \($0.state) \($0.reason) \($0.service)" })),
        ])
    }

    // MARK: scripts

    /// Loads every selected script in a child and learns its rules and dependencies.
    private func describeAll() throws -> [ScriptInfo] {
        var infos: [ScriptInfo?] = Array(repeating: nil, count: options.scripts.count)
        var sandboxFailure: String?
        let sources = options.scripts.map { $0.source ?? readBytes($0.path) }
        // One zygote for the scan: every child, from these describe jobs on, is forked from it.
        broker.startZygote(scripts: zip(options.scripts, sources).compactMap { file, source in
            source.map { ScriptSource(path: file.path, source: $0) }
        }, options: scanOptions())
        for (i, file) in options.scripts.enumerated() {
            guard let source = sources[i] else {
                onWarning("cannot read script \(file.path)")
                continue
            }
            let job = ScriptJob(mode: .describe, scriptPath: file.path, scriptName: file.name, source: source,
                                options: commonOptions(file))
            broker.submit(job) { [unowned self] outcome in
                guard outcome.status == "ok" else {
                    if outcome.status == "sandbox-failed" {
                        sandboxFailure = outcome.message ?? "unknown error"
                    } else if outcome.status == "skip" {
                        if options.verbosity > 0 || options.debugging > 0 { onWarning("Failed to load '\(file.path)'.") }
                    } else {
                        onWarning("Failed to load \(file.path):\n\(outcome.message ?? outcome.status)")
                    }
                    return
                }
                let rules = Set(outcome.result["rules"].arrayPart.compactMap(\.text))
                let deps = outcome.result["dependencies"].arrayPart.compactMap(\.text)
                infos[i] = ScriptInfo(file: file, source: source, rules: rules, dependencies: deps,
                                      categories: outcome.result["categories"].arrayPart.compactMap(\.text))
            }
        }
        broker.runUntilIdle()
        if let sandboxFailure {
            // The policy cannot be applied: no script can run safely, so none runs.
            throw SpecError("the sandbox could not be set up: \(sandboxFailure)")
        }
        let loaded = infos.compactMap { $0 }
        let refused = loaded.filter { !policy.runs(categories: $0.categories) }
        if !refused.isEmpty {
            let list = refused.map { "\($0.file.name) (\($0.categories.joined(separator: ", ")))" }.joined(separator: "; ")
            throw SpecError("the sandbox policy '\(policy.name)' runs only scripts in the categories "
                + "\((policy.runCategories ?? []).joined(separator: ", ")), and refuses: \(list). "
                + "Use a policy that allows them, e.g. --policy permissive")
        }
        return try assignRunlevels(loaded)
    }

    /// Runlevel = 1 + the highest runlevel among the selected scripts it depends on.
    /// A cycle is an error naming the chain, as nmap reports it.
    private func assignRunlevels(_ scripts: [ScriptInfo]) throws -> [ScriptInfo] {
        var byName: [String: Int] = [:]
        for (i, s) in scripts.enumerated() { byName[s.file.name] = i }
        var level: [Int: Int] = [:]
        var path: [Int] = []
        func compute(_ i: Int) throws -> Int {
            if let l = level[i] { return l }
            if let at = path.firstIndex(of: i) {
                let chain = (path[at...] + [i]).map { scripts[$0].file.name }.joined(separator: "->")
                throw SpecError("circular dependency in chain `\(chain)`")
            }
            path.append(i)
            var l = 1
            for dep in scripts[i].dependencies.compactMap({ byName[$0] }) { l = max(l, try compute(dep) + 1) }
            path.removeLast()
            level[i] = l
            return l
        }
        return try scripts.indices.map { i in var s = scripts[i]; s.runlevel = try compute(i); return s }
    }

    /// Runs the instances of one phase, runlevel by runlevel. `instances` lists the
    /// (host, port, host index) triples a rule is tried on.
    private func runPhase(_ scripts: [ScriptInfo], rule: String, scope: NetworkScope,
                          instances: (String) -> [(ScanTarget?, PortReport?, Int?)],
                          place: ((Int?, PortReport?, ScriptResult) -> Void)? = nil) -> [ScriptResult] {
        let rules = rule.split(separator: "|").map(String.init)
        var collected: [ScriptResult] = []
        let levels = Set(scripts.map(\.runlevel)).sorted()
        let phaseStart = wallClock()
        let total = scripts.reduce(0) { sum, s in sum + rules.filter(s.rules.contains).reduce(0) { $0 + instances($1).count } }
        var done = 0
        var progressTimer: Int?
        func scheduleProgress() {
            guard let every = options.progressEvery, every > 0 else { return }
            progressTimer = broker.reactor.after(every) { [unowned self] in
                let elapsed = wallClock() - phaseStart
                let left = done > 0 ? elapsed / Double(done) * Double(total - done) : nil
                onProgress("NSE progress: \(done) of \(total) script instances done, \(Int(elapsed))s elapsed"
                           + (left.map { ", about \(Int($0.rounded(.up)))s left" } ?? ""))
                scheduleProgress()
            }
        }
        scheduleProgress()
        defer { broker.reactor.cancel(progressTimer) }
        for level in levels {
            say("NSE: Starting runlevel \(level) (of \(levels.count)) scan.", ifVerbose: 2)
            if level == levels.first && verbose { onOutputLine("Initiating NSE at \(NormalReport.clock(phaseStart))") }
            for script in scripts where script.runlevel == level {
                for r in rules where script.rules.contains(r) {
                    for (target, port, hostIndex) in instances(r) {
                        let job = instanceJob(script, rule: r, target: target, port: port, scope: scope)
                        broker.submit(job) { [unowned self] outcome in
                            done += 1
                            instancesDone += 1
                            // bench/run's scale workload: is the broker the same after 1,000 and 10,000?
                            if instancesDone == 1_000 || instancesDone == 10_000 { BrokerStats.report("after \(instancesDone) instances") }
                            guard let result = self.result(of: outcome, script: script, target: target, port: port) else { return }
                            if let place { place(hostIndex, port, result) } else { collected.append(result) }
                        }
                    }
                }
            }
            broker.runUntilIdle()
        }
        if verbose && !levels.isEmpty {
            let now = wallClock()
            onOutputLine("Completed NSE at \(NormalReport.clock(now)), \(NormalReport.format2(now - phaseStart))s elapsed")
        }
        return collected.sorted { $0.id < $1.id }
    }

    /// Turns an outcome into what the report shows, as nmap 7.93 would.
    private func result(of outcome: ScriptOutcome, script: ScriptInfo, target: ScanTarget?, port: PortReport?) -> ScriptResult? {
        let against = againstText(target, port)
        switch outcome.status {
        case "output":
            if options.debugging > 0 { onOutputLine("NSE: Finished \(script.file.name)\(against).") }
            return ScriptResult(id: script.file.name, output: outcome.output ?? [], structured: outcome.structured)
        case "empty":
            if options.debugging > 0 { onOutputLine("NSE: Finished \(script.file.name)\(against).") }
            return nil
        case "no-match", "no-rule", "skip":
            return nil
        case "timeout":
            if options.debugging > 0 { onOutputLine("NSE: \(script.file.name)\(against) timed out") }
            return nil
        case "try":
            if options.debugging > 0 { onOutputLine("NSE: Finished \(script.file.name)\(against). Reason: \(outcome.message ?? "")") }
            return nil
        default:
            let message = outcome.message ?? outcome.status
            if message.contains("nsebox sandbox:") || outcome.status != "error" {
                onWarning("\(script.file.name)\(against): \(firstLine(message))")
            }
            if options.debugging > 0 {
                onOutputLine("NSE: \(script.file.name)\(against) threw an error!\n\(message)\n")
                return nil
            }
            return ScriptResult(id: script.file.name, output: Array("ERROR: Script execution failed (use -d to debug)".utf8), structured: nil)
        }
    }

    private func againstText(_ target: ScanTarget?, _ port: PortReport?) -> String {
        guard let target else { return "" }
        let ipport = port.map { "\(target.address):\($0.port)" } ?? target.address
        if let name = target.targetName { return " against \(name) (\(ipport))" }
        return " against \(ipport)"
    }

    private func firstLine(_ s: String) -> String { String(s.split(separator: "\n").first ?? "") }

    // MARK: jobs

    private func commonOptions(_ file: ScriptFile) -> [(String, Value)] {
        [("selected_by_name", .bool(file.selectedByName)), ("forced", .bool(file.forced))] + scanOptions()
    }

    /// The options every job of the scan carries, whatever its script.
    private func scanOptions() -> [(String, Value)] {
        ScanEngine.jobOptions(verbosity: options.verbosity, debugging: options.debugging, scriptArgs: options.scriptArgs)
    }

    static func jobOptions(verbosity: Int, debugging: Int, scriptArgs: Value) -> [(String, Value)] {
        [
            ("verbosity", .int(Int64(verbosity))),
            ("debugging", .int(Int64(debugging))),
            ("args", scriptArgs),
            ("is_privileged", .bool(RawSender.available)),
            ("have_ssl", .bool(true)),
            ("timing_level", .int(3)),
        ]
    }

    /// A zygote started early (`Broker.prestartZygote`) gets its job as soon as
    /// the scripts and their arguments are known: the same job `describeAll`
    /// would send, so it loads nselib while the command reads what is left.
    public static func sendingZygoteJob(_ start: consuming ZygoteStart?, scripts: [ScriptFile], scriptArgs: Value,
                                        verbosity: Int, debugging: Int, dataDirectories: [String]) -> ZygoteStart? {
        switch consume start {
        case .none:
            return nil
        case .some(let start):
            let sources = scripts.compactMap { file in
                (file.source ?? readBytes(file.path)).map { ScriptSource(path: file.path, source: $0) }
            }
            return start.sendingJob(scripts: sources,
                                    options: jobOptions(verbosity: verbosity, debugging: debugging, scriptArgs: scriptArgs),
                                    files: DataFiles(directories: dataDirectories))
        }
    }

    private func instanceJob(_ script: ScriptInfo, rule: String, target: ScanTarget?, port: PortReport?,
                             scope: NetworkScope) -> ScriptJob {
        ScriptJob(mode: .instance, scriptPath: script.file.path, scriptName: script.file.name, source: script.source,
                  rule: rule, host: target.map { t in hostIndex[t.address].map { hostTable(t, times: hosts[$0].times, extra: hosts[$0].hostFields) } ?? hostTable(t) }, port: port.map(portTable), hostKey: target?.address,
                  options: commonOptions(script.file), scope: scope, timeout: options.scriptTimeout,
                  rights: policy.rights(script: script.file.name, categories: script.categories))
    }

    /// The host table nmap hands a script; `extra` (from an imported scan) overrides.
    func hostTable(_ t: ScanTarget, times: HostTimes = HostTimes(), extra: [(String, Value)] = []) -> Value {
        var fields: [(String, Value)] = [
            ("ip", .string(t.address)),
            ("name", .string("")),
            ("reason", .string("user-set")),
            ("reason_ttl", .int(0)),
            ("directly_connected", .bool(isLoopback(t.address))),
            ("bin_ip", .bytes(binaryAddress(t.address))),
            ("times", times.table),
        ]
        if let name = t.targetName { fields.append(("targetname", .string(name))) }
        // The raw-packet facts (ipidseq, qscan, ...): how this machine reaches the host.
        if let route = routes[t.address] ?? HostRoute.to(t.address, interfaces: broker.interfaces) {
            routes[t.address] = route
            fields[fields.firstIndex { $0.0 == "directly_connected" }!].1 = .bool(route.directlyConnected)
            fields.append(("interface", .string(route.interface)))
            fields.append(("interface_mtu", .int(Int64(route.mtu))))
            fields.append(("bin_ip_src", .bytes(binaryAddress(route.source))))
            if let mac = route.sourceMAC { fields.append(("mac_addr_src", .bytes(mac))) }
            if let mac = route.targetMAC { fields.append(("mac_addr", .bytes(mac))) }
            if let mac = route.nextHopMAC { fields.append(("mac_addr_next_hop", .bytes(mac))) }
        } else if isLoopback(t.address) {
            fields.append(("interface", .string("lo")))
        }
        for (k, v) in extra {
            if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
        }
        return .record(fields)
    }

    func portTable(_ p: PortReport) -> Value {
        var version: [(String, Value)] = [
            ("name", .string(p.service)), ("name_confidence", .double(3.0)),
            ("service_tunnel", "none"), ("service_dtype", "table"),
        ]
        if case .table(let set)? = p.version {
            for entry in set {
                guard let k = entry.key.text else { continue }
                if let i = version.firstIndex(where: { $0.0 == k }) { version[i].1 = entry.value } else { version.append((k, entry.value)) }
            }
        }
        return .record([
            "number": .int(Int64(p.port)),
            "protocol": .string(p.proto.rawValue),
            "state": .string(p.state),
            "reason": .string(p.reason),
            "reason_ttl": .int(0),
            "service": .string(p.service),
            "version": .record(version),
        ])
    }

    /// Port tables as scripts get them (nmap.get_port_state), by host and port
    /// index; a port's own is dropped when a script changes its state or version.
    private var portTables: [Int: EncodedValue] = [:]

    private func cachedPortTable(_ h: Int, _ p: Int) -> EncodedValue {
        if let t = portTables[h << 32 | p] { return t }
        let t = EncodedValue(portTable(hosts[h].ports[p]))
        portTables[h << 32 | p] = t
        return t
    }

    /// Where a (host, port, protocol) sits in the report, for the port-table requests.
    private func findPort(_ host: String?, _ port: Int, _ proto: String) -> (Int, Int)? {
        guard let host, let h = hostIndex[host],
              let p = hosts[h].ports.firstIndex(where: { $0.port == port && $0.proto.rawValue == proto }) else { return nil }
        return (h, p)
    }

    private func handleLog(_ log: ScriptLog) {
        switch log.channel {
        case "stdout": onOutputLine("NSE: " + log.text)
        case "stderr": FileHandleStderr.write("NSE: " + log.text + "\n")
        default: FileHandleStderr.write("NSE: [\(log.script)] \(log.text)\n")
        }
    }
}

func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func isLoopback(_ address: String) -> Bool { address.hasPrefix("127.") || address == "::1" }

func binaryAddress(_ address: String) -> [UInt8] {
    if address.utf8.contains(UInt8(ascii: ":")) {
        var a = in6_addr()
        guard inet_pton(AF_INET6, address, &a) == 1 else { return [] }
        return withUnsafeBytes(of: a) { Array($0) }
    }
    var a = in_addr()
    guard inet_pton(AF_INET, address, &a) == 1 else { return [] }
    return withUnsafeBytes(of: a) { Array($0) }
}

/// Unbuffered writes to stderr.
enum FileHandleStderr {
    static func write(_ s: String) { put(2, s) }
    static func put(_ fd: Int32, _ s: String) {
        var s = s
        s.withUTF8 { p in _ = Glibc.write(fd, p.baseAddress, p.count) }
    }
}
