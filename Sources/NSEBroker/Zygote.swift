import Glibc
import NSESystem
import NSEWire

/// The broker's side of the zygote (NSEChild's `Zygote`): a sandboxed process with
/// Lua, the bootstrap and the scan's nselib modules loaded, which forks a script
/// instance for each job instead of the broker spawning (exec, namespaces, Lua,
/// modules) a new child. The instance's socket travels to it with `spawnChild`;
/// it answers with `childSpawned`, and with `childExited` when the instance ends
/// (it is the instances' parent, and pid 1 of their PID namespace).
///
/// The zygote runs nsebox's bootstrap and nmap's libraries, never a script. While
/// it loads them it may only ask for modules; once ready it may only report. Any
/// other message ends it, and the broker spawns children itself from then on.
final class Zygote {
    enum State: Equatable { case loading, ready, failed }
    private(set) var state = State.loading
    /// Why the zygote is not used (NSEBOX_BROKER_STATS prints it).
    private(set) var failure: String?
    /// How many modules it holds once ready.
    private(set) var modules = 0
    /// The zygote's own pid (the broker's child).
    let pid: pid_t

    typealias Usage = (cpu: Double, maxKiB: Int)
    private unowned let broker: Broker
    private let rpc: NetSocket.Handle
    private var decoder = FrameDecoder()
    /// Frames to write; one with a socket to pass goes out alone, in one sendmsg.
    private var outbox: [(bytes: [UInt8], passing: NetSocket.Handle?)] = []
    private var nextID: Int64 = 1
    private var spawning: [Int64: (pid_t?) -> Void] = [:]
    private var ended: [Int64: (ChildExit, Usage)] = [:]
    private var awaiting: [Int64: (ChildExit, Usage?) -> Void] = [:]
    private var forked: Set<Int64> = []
    /// Called when the zygote becomes ready or fails.
    var onChange: () -> Void = {}

    /// The hello goes first, from `sendHello` or already on the socket
    /// (`Broker.prestartZygote`); then the job, from `load`.
    init(broker: Broker, pid: pid_t, rpc: consuming FileDescriptor) throws(SystemError) {
        self.broker = broker
        self.pid = pid
        self.rpc = NetSocket.Handle(rpc)
        try self.rpc.fd.setNonBlocking()
        flush() // watches the socket: a zygote started early may be asking for modules already
        // Jobs wait while it loads: a zygote that never gets ready must not hold the scan.
        broker.reactor.after(Zygote.loadingLimit) { [weak self] in
            guard let self, self.state == .loading else { return }
            self.fail("the zygote did not finish loading within \(Int(Zygote.loadingLimit)) s")
        }
    }

    func sendHello(policyText: String) {
        send(Frame(.hello, [.int(WireLimits.protocolVersion), .string(policyText)]))
    }

    /// Whether it has its job (`load`).
    private(set) var hasJob = false

    /// Its job, once sent.
    private(set) var job: ZygoteJob?
    /// How many modules' bytecode from it went into the cache.
    private(set) var bytecodeStored = 0
    /// Cache keys of the modules it got with `loadModule` while loading.
    private var answered: [String: String] = [:]
    /// The bytecode of the scripts its job gave it (path -> the source it was
    /// made of, and the bytecode): the cache's, or what the zygote made.
    private var scriptCode: [String: (source: [UInt8], code: [UInt8])] = [:]
    /// Whether the zygote got ready, having loaded every script's cached
    /// bytecode (and replaced what did not load) before it said so.
    private var scriptsChecked = false

    /// The bytecode of the script at `path` made of these bytes, if the zygote
    /// has it (once it is ready).
    func scriptBytecode(path: String, source: [UInt8]) -> [UInt8]? {
        guard scriptsChecked, let made = scriptCode[path], made.source == source else { return nil }
        return made.code
    }

    /// How many scripts' bytecode it has, how many came from the cache, and
    /// how many it compiled into the cache.
    var scriptsCompiled: Int { scriptCode.count }
    private(set) var scriptsFromCache = 0
    private(set) var scriptsStored = 0

    /// Its job went out before the broker had it (`ZygoteStart.sendingJob`).
    func markJobSent(_ sent: ZygoteJob) {
        hasJob = true
        take(sent)
    }

    /// Its job: the modules to load and the scan's options. Once.
    func load(_ job: ZygoteJob) {
        guard !hasJob else { return }
        hasJob = true
        take(job)
        send(Frame(.run, [job.job]))
    }

    private func take(_ job: ZygoteJob) {
        self.job = job
        for (path, script) in job.scripts {
            guard let code = script.cached else { continue }
            scriptCode[path] = (script.source, code)
            scriptsFromCache += 1
        }
    }

    /// Seconds the zygote may take to load nselib and compile the scripts.
    static let loadingLimit = 60.0

    /// A number for the next instance (`spawn`, `kill`, `whenEnded`).
    func newInstanceID() -> Int64 {
        defer { nextID += 1 }
        return nextID
    }

    /// Forks instance `id` holding `socket` (the child's end of its socketpair);
    /// `done` gets its pid in the zygote's namespace, or nil if it could not. The
    /// instance waits for its name on the socket (nse_zygote_serve), then its job.
    func spawn(_ id: Int64, socket: NetSocket.Handle, _ done: @escaping (pid_t?) -> Void) {
        guard state == .ready else { return done(nil) }
        spawning[id] = done
        outbox.append((Frame(.spawnChild, [.int(id)]).encoded(), socket))
        flush()
    }

    /// SIGKILL for the instance (through the zygote, whose PID namespace it is in).
    func kill(_ id: Int64) {
        guard forked.contains(id) || spawning[id] != nil, state == .ready else { return }
        send(Frame(.killChild, [.int(id)]))
    }

    /// Calls `done` once the instance has ended and the zygote has reaped it.
    func whenEnded(_ id: Int64, _ done: @escaping (ChildExit, Usage?) -> Void) {
        if let e = ended.removeValue(forKey: id) { return done(e.0, e.1) }
        guard state != .failed, forked.contains(id) || spawning[id] != nil else { return done(.signaled(SIGKILL), nil) }
        awaiting[id] = done
    }

    // MARK: the socket

    private func send(_ frame: Frame) {
        outbox.append((frame.encoded(), nil))
        flush()
    }

    private func flush() {
        guard state != .failed else { return }
        while let (bytes, passing) = outbox.first {
            let n: Int?
            do {
                if let passing {
                    n = try rpc.fd.write(bytes[...], passing: passing.raw)
                } else {
                    n = try rpc.fd.write(bytes[...])
                }
            } catch {
                return fail("the zygote's socket: \(error)")
            }
            guard let n else { break }
            if n == bytes.count { outbox.removeFirst() } else { outbox[0] = (Array(bytes[n...]), nil) }
        }
        broker.reactor.watch(rpc.raw, outbox.isEmpty ? .read : [.read, .write]) { [weak self] r, w, hup in
            guard let self else { return }
            if r || hup { self.readable() }
            if w { self.flush() }
        }
    }

    private func readable() {
        while state != .failed {
            let count: Int?
            do { count = try decoder.fill { try rpc.fd.read(into: $0) } } catch { return fail("the zygote's socket: \(error)") }
            guard let count else { return }
            if count == 0 { return fail("the zygote ended") }
            do {
                while state != .failed, let frame = try decoder.next() { try handle(frame) }
            } catch {
                return fail("protocol violation: \(error)")
            }
        }
    }

    private func handle(_ frame: Frame) throws {
        guard !frame.isReply, let op = frame.request, op.sender != .broker else {
            return fail("protocol violation: message \(frame.op)")
        }
        try frame.validateArguments()
        let v = frame.values
        switch (op, state) {
        case (.helloAck, .loading):
            break
        case (.loadModule, .loading):
            // Only nselib from nmap's own install (the last data directory): a
            // module from --datadir, NMAPDIR or ~/.nmap, which whoever wrote it
            // controls, is left to the instances, confined by the policy alone.
            let name = v[0].text ?? ""
            var answer: [Value] = [.none, .string("module '\(name)' not found in nselib")]
            if let m = broker.files.module(name) {
                let fromNmap = Zygote.fromNmap(m.chunkName, broker.files)
                answer = fromNmap
                    ? [.bytes(m.source), .string(m.chunkName), .string("t")]
                    : [.none, .string("nsebox: the zygote loads nselib only from nmap's install")]
                // Its bytecode may come back for the cache (a cached copy that
                // did not load is replaced), keyed by this source.
                if fromNmap, let cache = broker.bytecodeCache {
                    answered[name] = cache.key(chunkName: m.chunkName, source: m.source)
                }
            }
            send(Frame.reply(to: op, requestID: frame.requestID, answer))
        case (_, .loading) where op.expectsReply:
            // A module that wants more than its source at load time is left to the instances.
            send(Frame.reply(to: op, requestID: frame.requestID, [.none, .string("nsebox: not while the zygote loads nselib")]))
        case (.log, .loading):
            break
        case (.zygoteBytecode, .loading):
            // Once, and only for what its job sent as source: modules, stored under
            // the key of that source (`BytecodeCache`), and scripts, kept with the
            // bytes they were made of for the instances' jobs and stored too (in
            // place of cached bytecode that did not load).
            let pending = broker.bytecodeCache == nil ? [:] : (job?.pendingBytecode ?? [:]).merging(answered) { job, _ in job }
            let scripts = job?.scripts ?? [:]
            guard !pending.isEmpty || !scripts.isEmpty else {
                return fail("protocol violation: bytecode the zygote was not asked for")
            }
            job = job.map { ZygoteJob(job: $0.job, pendingBytecode: [:], cachedModules: $0.cachedModules, scripts: [:]) }
            answered = [:]
            if let cache = broker.bytecodeCache, case .table(let entries) = v[0] {
                for entry in entries {
                    guard let name = entry.key.text, let key = pending[name], case .bytes(let code) = entry.value else { continue }
                    if cache.store(key, code) { bytecodeStored += 1 }
                }
            }
            if case .table(let entries) = v[1] {
                for entry in entries {
                    guard let path = entry.key.text, let script = scripts[path], case .bytes(let code) = entry.value else { continue }
                    if script.cached != nil { scriptsFromCache -= 1 }
                    scriptCode[path] = (script.source, code)
                    if let key = script.key, broker.bytecodeCache?.store(key, code) == true { scriptsStored += 1 }
                }
            }
        case (.zygoteReady, .loading):
            // Every instance it forks from now on inherits this (Broker.childrenYield).
            if Broker.childrenYield { yieldToCaller(pid) }
            modules = Int(v[0].int ?? 0)
            scriptsChecked = true
            state = .ready
            onChange()
        case (.result, .loading):
            fail("the zygote could not start: \(v[0]["message"].text ?? v[0]["status"].text ?? "?")")
        case (.childSpawned, .ready):
            let id = v[0].int ?? 0, pid = v[1].int ?? -1
            guard let done = spawning.removeValue(forKey: id) else { return fail("protocol violation: unknown instance \(id)") }
            if pid > 0 {
                forked.insert(id)
            } else if let waiting = awaiting.removeValue(forKey: id) {
                waiting(.exited(-1), nil)
            }
            done(pid > 0 ? pid_t(pid) : nil)
        case (.childExited, .ready):
            let id = v[0].int ?? 0
            guard forked.remove(id) != nil else { return fail("protocol violation: unknown instance \(id)") }
            let usage: Usage = (Double(v[2].int ?? 0) / 1e6, Int(v[3].int ?? 0))
            instanceCPU += usage.cpu
            instancesEnded += 1
            let exit = ChildExit(waitStatus: Int32(truncatingIfNeeded: v[1].int ?? 0))
            if let done = awaiting.removeValue(forKey: id) { done(exit, usage) } else { ended[id] = (exit, usage) }
        default:
            fail("protocol violation: \(op) while the zygote is \(state)")
        }
    }

    /// Whether a module's chunk name (`"@" + path`) is in nmap's own install, the
    /// last data directory: the only modules the zygote loads.
    static func fromNmap(_ chunkName: String, _ files: DataFiles) -> Bool {
        chunkName.hasPrefix("@" + (files.directories.last ?? "/") + "/")
    }

    /// nmap's own scripts directory (in the last data directory), links and
    /// ".." resolved: the only scripts the zygote compiles are files under it
    /// (`fromNmapScripts`). nselib from the same install already runs in it;
    /// parsing a script of that install is less.
    static func nmapScripts(_ files: DataFiles) -> String? {
        files.directories.last.flatMap { realPath($0 + "/scripts") }
    }

    /// Whether a script file is under `nmapScripts`, its own links and ".." resolved.
    static func fromNmapScripts(_ path: String, in directory: String) -> Bool {
        realPath(path)?.hasPrefix(directory + "/") ?? false
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Gives up on the zygote: it is killed (its instances die with it, as pid 1
    /// of their namespace or through their parent-death signal), and every
    /// waiting spawn or end is answered now.
    private func fail(_ why: String) {
        guard state != .failed else { return }
        state = .failed
        failure = why
        broker.reactor.unwatch(rpc.raw)
        Glibc.kill(pid, SIGKILL)
        broker.reap(pid) { _, _ in }
        outbox = []
        let waitingSpawns = spawning
        spawning = [:]
        for done in waitingSpawns.values { done(nil) }
        let waitingEnds = awaiting
        awaiting = [:]
        forked = []
        for done in waitingEnds.values { done(.signaled(SIGKILL), nil) }
        onChange()
    }

    /// The CPU seconds of the instances that ended, as the zygote reported them.
    private(set) var instanceCPU = 0.0
    private(set) var instancesEnded = 0
    /// The zygote's own CPU seconds (without its instances'), once `shutdown`
    /// has reaped it.
    private(set) var ownCPU: Double?

    /// Ends the zygote now (the broker, and its reactor, are going away).
    func shutdown() {
        guard state != .failed else { return }
        state = .failed
        failure = "shut down"
        Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        // Its usage counts the instances it reaped too.
        ownCPU = max(0, cpuSeconds(usage) - instanceCPU)
    }
}

/// The process of one script instance: a child the broker spawned itself, or one
/// its zygote forked (then the zygote kills and reaps it).
enum InstanceProcess {
    case spawned(pid_t)
    case forked(Zygote, id: Int64, pid: pid_t)

    /// The pid as its parent sees it (for a forked instance, in the zygote's namespace).
    var pid: pid_t {
        switch self {
        case .spawned(let pid), .forked(_, _, let pid): return pid
        }
    }

    func kill() {
        switch self {
        case .spawned(let pid): Glibc.kill(pid, SIGKILL)
        case .forked(let zygote, let id, _): zygote.kill(id)
        }
    }
}
