import Glibc
import NSEPolicy
import NSESystem
import NSEWire

/// How the broker starts children.
public struct BrokerConfig: Sendable {
    /// The sandboxed child executable.
    public var childPath: String
    /// The policy text (already validated) every child applies.
    public var policyText: String
    /// nmap's data directories, searched in order for nselib and data files.
    public var dataDirectories: [String]
    /// Children alive at once.
    public var maxChildren: Int
    /// Keep the children's stderr (debugging nsebox itself).
    public var childStderr: Bool
    /// `--audit-log FILE`: where the broker records every instance's I/O.
    public var auditPath: String? = nil
    /// `--script-trace`: records are made (for a live transcript) even without a file.
    public var scriptTrace = false
    /// `nsebox replay`: sockets answer from this recording instead of the network.
    public var recording: Recording? = nil
    /// Paths the user gave in script arguments; those naming a file become
    /// readable by scripts (`DataFiles.allowUserFiles`).
    public var userFiles: [String] = []

    public init(childPath: String, policyText: String, dataDirectories: [String],
                maxChildren: Int = 32, childStderr: Bool = false) {
        self.childPath = childPath; self.policyText = policyText; self.dataDirectories = dataDirectories
        self.maxChildren = maxChildren; self.childStderr = childStderr
    }
}

/// A zygote's process started before its broker (`Broker.prestartZygote`): its
/// pid and the broker's end of its socket, the hello already sent.
public struct ZygoteStart: ~Copyable {
    let pid: pid_t
    private let rpc: FileDescriptor
    /// Where its job's bytecode comes from and goes to (`BytecodeCache`).
    let cache: BytecodeCache?
    /// Its job, once on the socket too (`sendingJob`).
    private(set) var job: ZygoteJob?
    init(pid: pid_t, rpc: consuming FileDescriptor, cache: BytecodeCache?) { self.pid = pid; self.rpc = rpc; self.cache = cache }
    consuming func take() -> FileDescriptor { rpc }

    /// The zygote with its job (`Broker.zygoteJob`) sent, as soon as the scripts
    /// are known, so that it loads nselib while the command reads the rest. The
    /// socket's send buffer has room for it (`prestartZygote`; where the system
    /// allows less, the write waits for the zygote to read). If the write fails,
    /// the zygote fails once the broker reads from it, and the broker starts
    /// children itself.
    public consuming func sendingJob(scripts: [ScriptSource], options: [(String, Value)], files: DataFiles) -> ZygoteStart {
        let built = Broker.zygoteJob(scripts: scripts, options: options, files: files, cache: cache)
        try? rpc.writeAll(Frame(.run, [built.job]).encoded())
        job = built
        return self
    }
}

/// A script the scan runs: its path and the bytes read from it (once per scan).
public struct ScriptSource: Sendable {
    public var path: String
    public var source: [UInt8]
    public init(path: String, source: [UInt8]) { self.path = path; self.source = source }
}

/// A zygote's job, and what the broker keeps of it: the cache keys of the
/// modules it sent as source (the zygote's bytecode of them is stored under
/// these), how many went as bytecode, and the scripts it was given (path ->
/// their source, the cache key of that source, and the cache's bytecode of it
/// if any; their bytecode goes into the instances' jobs).
struct ZygoteJob {
    let job: Value
    let pendingBytecode: [String: String]
    let cachedModules: Int
    let scripts: [String: (source: [UInt8], key: String?, cached: [UInt8]?)]
}

/// Owns every child and everything that touches the world on their behalf.
public final class Broker {
    public let reactor = Reactor()
    public let registry = RegistryStore()
    public let mutexes = MutexTable()
    public let files: DataFiles
    /// This machine's interfaces, read once per scan as nmap reads them once per
    /// run: every host's route and every broadcast check looks them up, and each
    /// reading is a netlink dump and a socket per address.
    public private(set) lazy var interfaces: [Value] = NetworkFacts.interfaces()
    /// The audit log, when one was asked for.
    public let audit: AuditLog?
    /// In a replay, what the sockets answer from.
    public var recording: Recording? { config.recording }
    /// The policy's name, for the audit log's start records.
    let policyName: String
    // The engine's hooks below are set once, before the scan, and called on the
    // loop's one thread: unchecked (see Reactor's state), as each call would
    // otherwise begin and end a run-time access check.

    /// Every line a script logs.
    @exclusivity(unchecked) public var onLog: (ScriptLog) -> Void = { _ in }
    /// Every request the broker refused (script name, what and why).
    @exclusivity(unchecked) public var onDenied: (String, String) -> Void = { _, _ in }
    /// The broker's port table, asked by nmap.get_port_state (host, port, protocol),
    /// encoded (the engine encodes each once).
    @exclusivity(unchecked) public var portState: (String?, Int, String) -> EncodedValue? = { _, _, _ in nil }
    /// nmap.get_ports: the host's port tables with a protocol and state ("" = any).
    @exclusivity(unchecked) public var ports: (String?, String, String) -> [Value] = { _, _, _ in [] }
    /// nmap.add_targets: queues target specs for the scan; returns how many were
    /// accepted, or an error. nmap.new_targets_num: how many were added so far.
    @exclusivity(unchecked) public var addTargets: ([String]) -> (Int, String?) = { _ in (0, "adding targets is not enabled") }
    @exclusivity(unchecked) public var newTargetsCount: () -> Int = { 0 }
    /// nselib modules compiled once for the scan's children.
    let modules = CompiledModules()
    /// How many module loads so far got the broker's bytecode (NSEBOX_BROKER_STATS).
    public var bytecodeLoads: Int { modules.hits }
    /// How many nselib modules instances asked the broker for (none that the zygote holds).
    public internal(set) var instanceModuleLoads = 0
    /// How many modules the zygote holds (0 without one).
    public var zygoteModules: Int { zygote?.state == .ready ? zygote!.modules : 0 }
    /// How many of those its job carried as bytecode from the cache, and how
    /// many it compiled that went into the cache (`BytecodeCache`).
    public var zygoteModulesFromCache: Int { zygote?.job?.cachedModules ?? 0 }
    public var zygoteModulesCached: Int { zygote?.bytecodeStored ?? 0 }
    /// nselib's bytecode between scans (nil: none, `BytecodeCache.forChildren`).
    lazy var bytecodeCache = BytecodeCache.forChildren(of: config.childPath)
    /// Raw IP and Ethernet sending, for every child (only the broker holds raw sockets).
    let raw = RawSender()
    /// Open libpcap handles by device, snapshot length, promiscuity and filter.
    private var captures: [String: PcapHandle] = [:]
    /// Blocking work (name resolution) runs here, off the loop.
    lazy var background = BackgroundWork(reactor: reactor)
    /// nmap.set_port_state and nmap.set_port_version change the broker's port table.
    public var portUpdate: (String?, Int, String, PortUpdate) -> Void = { _, _, _, _ in }
    /// How many changes scripts have made to port tables: a session keeps its
    /// last port-table answer only while this stays the same.
    private(set) var portChanges = 0
    /// A script's change to a port table (every change goes through here).
    func changePort(_ host: String?, _ port: Int, _ proto: String, _ update: PortUpdate) {
        portChanges += 1
        portUpdate(host, port, proto, update)
    }

    public enum PortUpdate: Sendable {
        case state(String)
        case version(Value)
    }

    private let config: BrokerConfig
    /// Every child's first frame: the protocol version and the policy text.
    private lazy var hello = Frame(.hello, [.int(WireLimits.protocolVersion), .string(config.policyText)]).encoded()
    private let executable: ChildExecutable
    private let credentials: ChildCredentials?
    private var queue = FIFO<Queued>()
    private struct Queued {
        let job: ScriptJob
        let completion: (ScriptOutcome) -> Void
        /// Its instance may be readied ahead (`staged`): not again for a job whose
        /// staged instance ended before the job started.
        var mayStage = true
    }
    private var live: [ObjectIdentifier: ChildSession] = [:] {
        // With one instance alive (which spins for its replies, `replySpin`), the
        // loop polls a few microseconds before it sleeps too: each side then
        // finds the other's message without a wake-up on another CPU.
        didSet { reactor.spinMicros = live.count == 1 && Broker.cores > 1 ? Broker.spinMicros : 0 }
    }
    private var pendingCount = 0
    private var started = 0
    /// The scan's zygote (`startZygote`, or adopted from `prestartZygote`).
    private var zygote: Zygote?

    /// `zygote`: one started before this broker (`prestartZygote`), its job to
    /// come from `startZygote`.
    public init(config: BrokerConfig, zygote early: consuming ZygoteStart? = nil) throws {
        self.config = config
        self.files = DataFiles(directories: config.dataDirectories)
        self.audit = config.auditPath != nil || config.scriptTrace ? try AuditLog(path: config.auditPath) : nil
        self.policyName = (try? PolicyParser.parse(config.policyText).name) ?? "?"
        files.allowUserFiles(config.userFiles)
        self.executable = try ChildExecutable(path: config.childPath)
        self.credentials = Broker.childCredentials
        signal(SIGPIPE, SIG_IGN)
        if let early {
            let pid = early.pid
            let sent = early.job
            if let cache = early.cache { bytecodeCache = cache }  // checked once
            if let z = try? Zygote(broker: self, pid: pid, rpc: early.take()) {
                if let sent { z.markJobSent(sent) }
                adopt(z)
            } else {
                Glibc.kill(pid, SIGKILL)
                reap(pid) { _, _ in }
            }
        }
    }

    /// The SHA-256 of a job's script source for the audit log's `start` record,
    /// hashed once per script: every instance of it carries the same source (the
    /// same array, which `==` recognizes without reading it).
    func scriptDigest(_ job: ScriptJob) -> String {
        if let known = scriptDigests[job.scriptPath], known.source == job.source { return known.hex }
        let hex = AuditLog.sha256Hex(job.source[...])
        scriptDigests[job.scriptPath] = (job.source, hex)
        return hex
    }
    private var scriptDigests: [String: (source: [UInt8], hex: String)] = [:]

    /// A root broker runs children as nobody; anyone else runs them as themselves.
    static var childCredentials: ChildCredentials? { geteuid() == 0 ? .nobody : nil }

    /// Starts the zygote's process before there is a broker, so that its start
    /// (exec, the sandbox, its code onto huge pages) overlaps what the command
    /// does before the scan (script.db, the scripts, nmap-services): the hello is
    /// sent now, the job once the scripts are known (`ZygoteStart.sendingJob`).
    /// Nil without a zygote (NSEBOX_ZYGOTE=0) or if it cannot start (the broker
    /// then starts one itself).
    public static func prestartZygote(config: BrokerConfig) -> ZygoteStart? {
        guard zygoteEnabled else { return nil }
        // A zygote that died before reading must fail a write, not end the command.
        signal(SIGPIPE, SIG_IGN)
        do {
            let executable = try ChildExecutable(path: config.childPath)
            let pair = try SocketPair()
            let pid = try spawnZygote(executable, rpc: pair.child, credentials: childCredentials, keepStderr: config.childStderr)
            let rpc = pair.keepBrokerEnd()
            // Room for the job and its module sources (about 1.3 MiB for W1's
            // scripts) while the zygote is still starting: the write need not
            // wait for it (ZygoteStart.sendingJob). The hello fits anyway.
            rpc.setSendBuffer(4 << 20)
            try rpc.writeAll(Frame(.hello, [.int(WireLimits.protocolVersion), .string(config.policyText)]).encoded())
            return ZygoteStart(pid: pid, rpc: rpc, cache: BytecodeCache.forChildren(of: config.childPath))
        } catch {
            return nil
        }
    }

    deinit { shutdown() }

    /// Ends the zygote (and with it any instance); at deinit, or before for a
    /// command that exits without freeing the broker.
    public func shutdown() { zygote?.shutdown() }

    /// CPU seconds by process so far (NSEBOX_BROKER_STATS): the broker's own, its
    /// zygote's own (once `shutdown` has reaped it), and the instances the zygote
    /// reported ended, with their number.
    public var cpuSplit: (broker: Double, zygote: Double?, instances: Double, ended: Int) {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return (cpuSeconds(usage), zygote?.ownCPU, zygote?.instanceCPU ?? 0, zygote?.instancesEnded ?? 0)
    }

    /// NSEBOX_ZYGOTE=0: every child spawned by the broker (a benchmark's baseline).
    public static let zygoteEnabled = getenv("NSEBOX_ZYGOTE").map { String(cString: $0) != "0" } ?? true
    /// NSEBOX_CHILD_YIELD=0: children (the zygote, so every instance) keep the
    /// broker's scheduling, a benchmark's baseline. By default they run
    /// SCHED_BATCH and 5 nice levels below it (`yieldToCaller`): the broker
    /// answers every child's round trips, and a child it wakes no longer preempts
    /// it. A spawned child yields as soon as it has exec'd; the zygote only once
    /// it is ready (`Zygote`), before its first fork: its start is on the scan's
    /// way, and it sleeps in the kernel (new namespaces) while the broker keeps
    /// its own CPU busy.
    public static let childrenYield = getenv("NSEBOX_CHILD_YIELD").map { String(cString: $0) != "0" } ?? true
    /// NSEBOX_HUGE_TEXT=0: the zygote leaves its code in the file's pages (for a
    /// profiler, which can name code there; see nse_hugetext).
    static let hugeText = getenv("NSEBOX_HUGE_TEXT").map { String(cString: $0) == "0" } != true
    static let zygoteArguments = hugeText ? ["--zygote"] : ["--zygote", "--no-huge-text"]

    /// Spawns a zygote, its code first readied in the page cache on 2 MiB pages
    /// (which the zygote maps whole: `cacheCodeOnHugePages`).
    static func spawnZygote(_ executable: borrowing ChildExecutable, rpc: borrowing FileDescriptor,
                            credentials: ChildCredentials?, keepStderr: Bool) throws(SystemError) -> pid_t {
        if hugeText { executable.cacheCodeOnHugePages() }
        return try executable.spawn(rpc: rpc, arguments: zygoteArguments, credentials: credentials, keepStderr: keepStderr)
    }

    /// Starts the scan's zygote, which loads the nselib modules these scripts'
    /// sources require (read, not run: the zygote runs no script code, and only
    /// nselib from nmap's own install); jobs submitted from now on wait for it,
    /// then are forked from it. If it cannot start, the broker spawns every child
    /// itself. `options` are the job options common to every instance of the scan.
    public func startZygote(scripts: [ScriptSource], options: [(String, Value)]) {
        guard Broker.zygoteEnabled, zygote?.hasJob != true else { return }
        let job = Broker.zygoteJob(scripts: scripts, options: options, files: files, cache: bytecodeCache)
        if let z = zygote {
            z.load(job)
            return
        }
        do {
            let pair = try SocketPair()
            let pid = try Broker.spawnZygote(executable, rpc: pair.child, credentials: credentials, keepStderr: config.childStderr)
            let z = try Zygote(broker: self, pid: pid, rpc: pair.keepBrokerEnd())
            z.sendHello(policyText: config.policyText)
            adopt(z)
            z.load(job)
        } catch {
            if Broker.statsEnabled { FileHandleStderrBroker.write("nsebox broker: no zygote: \(error)\n") }
        }
    }

    /// A zygote's job: the nselib modules these scripts' sources require (read,
    /// not run), with their sources, and `options`, the job options common to
    /// every instance. Only modules of nmap's own install are sent, as
    /// `Zygote` answers `loadModule`: one from --datadir, NMAPDIR or ~/.nmap is
    /// left to the instances. The sources in the job spare the zygote a round
    /// trip per module, and let one started early load them before the broker
    /// runs (`prestartZygote`). A module whose bytecode `cache` holds goes as
    /// that bytecode; for the others the job asks the zygote for the bytecode it
    /// makes (`dump_modules`), which the broker stores under `pending`'s keys.
    /// The scripts of nmap's own install go too (`scripts`, path -> source): the
    /// zygote compiles them, as it does nselib, and sends back their bytecode,
    /// which each instance then gets in its job instead of the source
    /// (`scriptBytecode(for:)`): a script is parsed once per scan, not once per
    /// instance. The zygote parses no other script.
    static func zygoteJob(scripts: [ScriptSource], options: [(String, Value)], files: DataFiles,
                                 cache: BytecodeCache?) -> ZygoteJob {
        // stdnse too: the bootstrap's last part requires it for every instance.
        let preload = ModuleRequires.closure(of: [Array(#"require "stdnse""#.utf8)] + scripts.map(\.source), files: files)
        var pending: [String: String] = [:]
        var cached = 0, moduleBytes = 0
        let sources: [(String, Value)] = preload.compactMap { name in
            guard let m = files.module(name), Zygote.fromNmap(m.chunkName, files) else { return nil }
            if let cache {
                let key = cache.key(chunkName: m.chunkName, source: m.source)
                if let code = cache.lookup(key) {
                    cached += 1
                    moduleBytes += code.count
                    return (name, .array([.bytes(code), .string(m.chunkName), .string("b")]))
                }
                pending[name] = key
            }
            moduleBytes += m.source.count
            return (name, .array([.bytes(m.source), .string(m.chunkName)]))
        }
        // The scripts, each with the cache's bytecode of it if any (the zygote
        // checks that it loads, else compiles the source), as long as the job
        // stays within half a frame (`--script all` is about 4 MB of nselib and
        // 4 MB of scripts); the rest are compiled by their instances.
        var compile: [String: (source: [UInt8], key: String?, cached: [UInt8]?)] = [:]
        var room = WireLimits.maxFrameBody / 2 - moduleBytes
        let nmapScripts = Zygote.nmapScripts(files)
        for script in scripts where compile[script.path] == nil {
            guard let directory = nmapScripts, Zygote.fromNmapScripts(script.path, in: directory) else { continue }
            let key = cache?.key(chunkName: "@" + script.path, source: script.source)
            let code = key.flatMap { cache?.lookup($0) }
            room -= script.source.count + (code?.count ?? 0)
            guard room >= 0 else { break }
            compile[script.path] = (script.source, key, code)
        }
        let given: [(String, Value)] = compile.sorted { $0.key < $1.key }.map { path, script in
            (path, .array([.bytes(script.source)] + (script.cached.map { [.bytes($0)] } ?? [])))
        }
        let job = Value.record([("mode", .string("zygote")), ("preload", .array(preload.map { .string($0) })),
                                ("sources", .record(sources)), ("dump_modules", .bool(!pending.isEmpty)),
                                ("scripts", .record(given))] + options)
        return ZygoteJob(job: job, pendingBytecode: pending, cachedModules: cached, scripts: compile)
    }

    private func adopt(_ z: Zygote) {
        z.onChange = { [unowned self, unowned z] in
            if Broker.statsEnabled {
                FileHandleStderrBroker.write(z.state == .ready ? "nsebox broker: zygote ready, \(z.modules) modules loaded\n"
                                                               : "nsebox broker: zygote not used: \(z.failure ?? "?")\n")
            }
            refillPool()
            startQueued()
        }
        zygote = z
    }

    /// Microseconds an instance starting now may poll for a reply before it
    /// sleeps: 15 when it runs alone and another core is free for the broker,
    /// else 0. Alone, its round trips are a wake-up on another CPU each, most of
    /// their cost on a virtual machine; among others, a spin would take a CPU
    /// from them (W1 was 10% slower with every instance spinning).
    func replySpin() -> Int { live.count <= 1 && Broker.cores > 1 ? Broker.spinMicros : 0 }
    static let spinMicros = 15
    /// Whether an instance waits for its replies in read(2) rather than in poll(2)
    /// then read: when the broker and its children share one CPU, and children
    /// yield. A read blocked on the RPC socket is woken early, when the broker
    /// takes the request (the "room to write" wake-up shares the socket's wait
    /// queue), and on two CPUs that wake-up runs the child for nothing. On one,
    /// the child cannot run before the broker sleeps, by which time the reply is
    /// there, and the early wake-up only spares the later one; poll would cost a
    /// system call more per round trip (docs/performance.md).
    static let repliesWaitInRead = cores == 1 && childrenYield
    /// The CPUs this process may run on (and its children, which inherit the
    /// mask): a spin on the broker's only CPU would keep the broker from answering.
    static let cores = usableCPUs()

    /// Jobs submitted and not yet completed.
    public var pending: Int { pendingCount }

    /// The bytecode the zygote compiled of this job's script, if it compiled the
    /// same bytes (`zygoteJob`): the instance loads it instead of the source.
    func scriptBytecode(for job: ScriptJob) -> [UInt8]? {
        guard let code = zygote?.scriptBytecode(path: job.scriptPath, source: job.source) else { return nil }
        scriptBytecodeJobs += 1
        return code
    }
    /// How many scripts the zygote has bytecode of, how many of those came from
    /// the cache and how many it compiled into it, and how many jobs got a
    /// script's bytecode (NSEBOX_BROKER_STATS).
    public var zygoteScripts: Int { zygote?.scriptsCompiled ?? 0 }
    public var zygoteScriptsFromCache: Int { zygote?.scriptsFromCache ?? 0 }
    public var zygoteScriptsCached: Int { zygote?.scriptsStored ?? 0 }
    public private(set) var scriptBytecodeJobs = 0

    /// Queues a job; `completion` runs on the reactor when it is done.
    public func submit(_ job: ScriptJob, completion: @escaping (ScriptOutcome) -> Void) {
        submit(job, first: false, completion: completion)
    }

    /// `first`: ahead of every queued job (the compile job, which the queued
    /// instances will profit from).
    func submit(_ job: ScriptJob, first: Bool, completion: @escaping (ScriptOutcome) -> Void) {
        pendingCount += 1
        if first { queue.prepend(Queued(job: job, completion: completion)) } else {
            queue.append(Queued(job: job, completion: completion))
        }
        startQueued()
    }

    /// Runs the event loop until every submitted job has completed.
    public func runUntilIdle() {
        reactor.run(until: { pendingCount == 0 })
    }

    private func startQueued() {
        var activated: ChildSession?
        while live.count < config.maxChildren {
            if zygote?.state == .loading { return } // started again when it is ready
            // (A staged instance of a zygote that died is dying too: its job
            // comes back to the queue when it has.)
            if !staged.isEmpty && zygote?.state == .ready {
                let session = staged.removeFirst()
                live[ObjectIdentifier(session)] = session
                pooledStarts += 1
                session.activate(spawnTime: Reactor.now())
                activated = session
            } else if let next = queue.removeFirst() {
                start(next.job, next.completion)
            } else {
                break
            }
        }
        // The next instance is readied once this one runs: its fork and set-up
        // would otherwise compete for the CPU with this one's start. (One that
        // ends first has its end call this again.)
        if let activated { activated.onRunning = { [unowned self] in stage() } } else { stage() }
    }

    /// NSEBOX_BROKER_STATS=1: the broker states its descriptors and memory after each
    /// phase (NSEEngine's BrokerStats), each child's start time (bench/run's micro)
    /// and the compile jobs.
    public static let statsEnabled = getenv("NSEBOX_BROKER_STATS").map { String(cString: $0) == "1" } ?? false

    // MARK: forked instances and the pool

    /// An instance the zygote forked, or was asked to fork. Until the broker writes
    /// its name on its socket it waits under the zygote's filter (nse_zygote_serve);
    /// then it stacks the policy's filter and reads its hello and job.
    private final class Forked {
        let id: Int64
        let socket: NetSocket.Handle
        /// Its pid once the zygote has answered; nil before.
        var pid: pid_t?
        /// Whom to tell when the zygote answers, once a job has it.
        var onFork: ((pid_t?) -> Void)?
        init(id: Int64, socket: NetSocket.Handle) { self.id = id; self.socket = socket }
    }
    /// Instances forked ahead of any job, so that a job does not wait for a fork.
    private var pool: [Forked] = []
    /// The next queued jobs' sessions, their instances forked, named and greeted
    /// ahead: each stacks the policy's filter, reads its hello and answers while
    /// other instances run, and its job's start is one `run` frame.
    private var staged: [ChildSession] = []
    /// NSEBOX_POOL: how many instances wait forked ahead of their jobs, staged or
    /// in the pool (default 2; 0: each fork is asked for when its job starts).
    static let poolSize = getenv("NSEBOX_POOL").flatMap { Int(String(cString: $0)) }.map { max(0, min($0, 64)) } ?? 2
    /// How many jobs started in an instance forked ahead, staged or from the pool
    /// (NSEBOX_BROKER_STATS prints it as "instances started from the pool").
    public private(set) var pooledStarts = 0
    /// How many requests instances made, by message number (NSEBOX_BROKER_STATS prints them).
    /// Unchecked (see Reactor's state): counted on the loop's one thread, and
    /// read once the scan is over.
    @exclusivity(unchecked) public internal(set) var requestCounts = [Int](repeating: 0, count: 256)

    /// Asks the zygote for an instance, its job to come.
    private func fork(_ zygote: Zygote) -> Forked? {
        guard let pair = try? SocketPair() else { return nil }
        let ends = pair.wrapped { NetSocket.Handle($0) }
        let entry = Forked(id: zygote.newInstanceID(), socket: ends.broker)
        // Unowned, as the zygote's own reference to the broker: the zygote keeps
        // this callback, and the broker keeps the zygote. (A weak reference
        // would give the broker a side table, which every session's reference
        // to it would then go through.)
        zygote.spawn(entry.id, socket: ends.child) { [unowned self] pid in
            entry.pid = pid
            if pid == nil { pool.removeAll { $0 === entry } }
            entry.onFork?(pid)
        }
        return entry
    }

    private func refillPool() {
        guard let zygote, zygote.state == .ready else { return }
        while pool.count + staged.count < Broker.poolSize, let entry = fork(zygote) { pool.append(entry) }
    }

    /// Readies the instances of the next queued jobs (`staged`), from the pool
    /// first. Not in a replay, whose instances claim their recordings in order.
    private func stage() {
        guard let zygote, zygote.state == .ready, recording == nil else { return }
        while staged.count < Broker.poolSize, let next = queue.first, next.mayStage {
            guard let entry = pool.isEmpty ? fork(zygote) : pool.removeFirst() else { break }
            _ = queue.removeFirst()
            started += 1
            start(next.job, label: "\(next.job.scriptName)#\(started)", in: entry, of: zygote, spawnTime: 0,
                  staged: true, next.completion)
        }
        refillPool()
    }

    /// Runs `job` in a forked instance: its name (what ps shows, 15 bytes and a
    /// NUL at least), then the session's hello, and its job at once or, staged,
    /// when the job starts.
    private func start(_ job: ScriptJob, label: String, in entry: Forked, of zygote: Zygote, spawnTime: Double,
                       staged: Bool = false, _ completion: @escaping (ScriptOutcome) -> Void) {
        let name = Array(label.utf8.prefix(15))
        do { try entry.socket.fd.writeAll(name + [UInt8](repeating: 0, count: 16 - name.count)) } catch {
            zygote.kill(entry.id)
            return finished(nil, ScriptOutcome(status: "crashed", message: "cannot start child: \(error)"), completion)
        }
        let session = begin(job, label: label, rpc: entry.socket, process: .forked(zygote, id: entry.id, pid: 0),
                            spawnTime: spawnTime, staged: staged, completion)
        if let pid = entry.pid {
            session.forked(pid: pid, failure: nil)
        } else {
            entry.onFork = { [link = session.link, unowned zygote] pid in link.session?.forked(pid: pid, failure: zygote.failure) }
        }
    }

    private func start(_ job: ScriptJob, _ completion: @escaping (ScriptOutcome) -> Void) {
        let spawnTime = Reactor.now()
        started += 1
        let label = "\(job.scriptName)#\(started)"
        if let zygote, zygote.state == .ready {
            // The fork is asked for before the session exists: a session that ends
            // at once (a replay that departs on its script's hash) kills and reaps a known instance.
            let pooled = !pool.isEmpty
            if let entry = pooled ? pool.removeFirst() : fork(zygote) {
                if pooled { pooledStarts += 1 }
                start(job, label: label, in: entry, of: zygote, spawnTime: spawnTime, completion)
                refillPool()
                return
            }
        }
        let pair: SocketPair
        do { pair = try SocketPair() } catch { return finished(nil, ScriptOutcome(status: "crashed", message: "\(error)"), completion) }
        let pid: pid_t
        do {
            pid = try executable.spawn(rpc: pair.child, arguments: [label], credentials: credentials,
                                       keepStderr: config.childStderr)
            if Broker.childrenYield { yieldToCaller(pid) }
        } catch {
            return finished(nil, ScriptOutcome(status: "crashed", message: "cannot start child: \(error)"), completion)
        }
        // The child's end closes here: only the child holds it now.
        begin(job, label: label, rpc: NetSocket.Handle(pair.keepBrokerEnd()), process: .spawned(pid), spawnTime: spawnTime, completion)
    }

    @discardableResult
    private func begin(_ job: ScriptJob, label: String, rpc: NetSocket.Handle, process: InstanceProcess,
                       spawnTime: Double, staged: Bool = false,
                       _ completion: @escaping (ScriptOutcome) -> Void) -> ChildSession {
        var key: ObjectIdentifier?
        let session = ChildSession(job: job, label: label, broker: self, rpc: rpc, process: process,
                                   hello: hello, spawnTime: spawnTime, staged: staged) { [unowned self] outcome in
            self.finished(key, outcome, completion)
        }
        key = ObjectIdentifier(session)
        if staged { self.staged.append(session) } else { live[key!] = session }
        return session
    }

    private func finished(_ key: ObjectIdentifier?, _ outcome: ScriptOutcome, _ completion: @escaping (ScriptOutcome) -> Void) {
        if let key {
            live[key] = nil
            if let i = staged.firstIndex(where: { ObjectIdentifier($0) == key }) {
                // Its instance ended before the job started (the zygote died, say):
                // the script never ran, and the job waits for another instance.
                let session = staged.remove(at: i)
                queue.prepend(Queued(job: session.job, completion: completion, mayStage: false))
                return startQueued()
            }
        }
        pendingCount -= 1
        completion(outcome)
        startQueued()
    }

    /// Has a module a child loaded from source compiled for later children.
    func compileLater(_ name: String) {
        modules.want(name, reactor: reactor) { [unowned self] names in
            let job = ScriptJob(mode: .compile, scriptPath: "", scriptName: "nselib-compile", source: [],
                                options: [("modules", .array(names.map { .string($0) }))])
            submit(job, first: true) { [unowned self] outcome in
                if outcome.status == "ok" { modules.store(outcome.result["compiled"], names: names) }
                if Broker.statsEnabled {
                    FileHandleStderrBroker.write("nsebox broker: nselib compiled: \(modules.count) modules\n")
                }
            }
        }
    }

    /// A capture handle for these parameters: a shared one if open, else a new one.
    func openCapture(device: String, snaplen: Int, promisc: Bool, filter: String) -> Result<PcapHandle, CaptureError> {
        let key = "\(device)|\(snaplen)|\(promisc)|\(filter)"
        if let h = captures[key] { return .success(h) }
        let opened = PcapHandle.open(device: device, snaplen: snaplen, promisc: promisc, filter: filter, reactor: reactor)
        if case .success(let h) = opened { captures[key] = h }
        return opened
    }

    /// Closes a handle nobody reads any more.
    func releaseCapture(_ h: PcapHandle) {
        if h.readers.isEmpty { captures[h.key] = nil }
    }

    /// Waits for an instance's process to end: the broker's own child, or through the zygote.
    func reap(_ process: InstanceProcess, _ done: @escaping (ChildExit, _ usage: (cpu: Double, maxKiB: Int)?) -> Void) {
        switch process {
        case .spawned(let pid): reap(pid, done)
        case .forked(let zygote, let id, _): zygote.whenEnded(id, done)
        }
    }

    /// Waits for `pid` to end without blocking the loop, then reports how it ended.
    /// A child that has not ended within two seconds of closing its socket is killed.
    /// `usage` is what wait4 says the child used: CPU seconds and peak resident KiB.
    func reap(_ pid: pid_t, attempt: Int = 0, _ done: @escaping (ChildExit, _ usage: (cpu: Double, maxKiB: Int)?) -> Void) {
        var status: Int32 = 0
        var usage = rusage()
        let r = wait4(pid, &status, WNOHANG, &usage)
        if r == pid { return done(ChildExit(waitStatus: status), (cpuSeconds(usage), usage.ru_maxrss)) }
        if r < 0 && errno != EINTR { return done(.exited(-1), nil) }
        if attempt == 400 { kill(pid, SIGKILL) }
        reactor.after(attempt < 20 ? 0.001 : 0.005) { [unowned self] in self.reap(pid, attempt: attempt + 1, done) }
    }
}

/// User and system CPU seconds of a `rusage`.
func cpuSeconds(_ usage: rusage) -> Double {
    Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

enum FileHandleStderrBroker {
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { p in _ = Glibc.write(2, p.baseAddress, p.count) }
    }
}
