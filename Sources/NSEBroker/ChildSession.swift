import Glibc
import NSEPolicy
import NSESystem
import NSEWire

/// The broker's side of one child: its RPC socket, its state, its sockets.
///
/// Every request is checked three times before anything happens: the frame decoder
/// (length, tags, depth), the argument schema of its op, and the permission table
/// below for the session's state. A child that fails any check is killed and
/// reported; the broker carries on.
final class ChildSession {
    enum State {
        case starting, running, finished
        var bit: UInt8 { switch self { case .starting: 1; case .running: 2; case .finished: 4 } }
    }

    /// Which requests a child may send in which state (OpenSSH's monitor table).
    static let permitted: [Op: Set<State>] = {
        var t: [Op: Set<State>] = [.helloAck: [.starting], .result: [.starting, .running]]
        for op: Op in [.connect, .send, .sendTo, .receive, .close, .closeAnswered, .setTimeout, .getInfo, .sleep,
                       .reconnectSSL, .getSSLCertificate,
                       .registryAcquire, .registryRelease, .mutexLock, .mutexTryLock, .mutexUnlock,
                       .loadModule, .readDataFile, .fileInfo,
                       .resolve, .dnsServers, .interfaces, .addTargets, .newTargetsNum,
                       .getPortState, .setPortState, .setPortVersion, .getPorts, .log,
                       .pcapOpen, .pcapReceive, .rawSend] {
            t[op] = [.running]
        }
        return t
    }()
    /// `permitted` by message number, one bit per state: what every request is
    /// checked against (a dictionary lookup per request cost more than the check).
    static let permittedStates: [UInt8] = {
        var mask = [UInt8](repeating: 0, count: 256)
        for (op, states) in permitted { for st in states { mask[Int(op.rawValue)] |= st.bit } }
        return mask
    }()

    static let maxSocketRecords = 4096
    /// Requests of one child awaiting their reply (each of a script's threads has at
    /// most one; a brute-force engine keeps a few hundred). More is a flood.
    static let maxInFlight = 4096
    static let maxOutbox = 64 << 20

    let job: ScriptJob
    let label: String
    /// Unsafe-unowned: the broker holds every session it starts and outlives
    /// them all, and a checked reference would be retained and released at each
    /// use (twice per request, measured with callgrind).
    private unowned(unsafe) let broker: Broker
    private let rpc: NetSocket.Handle
    private(set) var process: InstanceProcess
    /// The process exists and its pid is known: the audit log has its start
    /// record, and its messages are read. (A forked instance's pid comes from the
    /// zygote after its job has already been written to its socket.)
    private var began = false
    /// Its job has started (a staged session waits for `activate`): its timers
    /// run, and its `run` frame is written.
    private var activated = false
    private var sentRun = false
    /// What the reactor watches the socket for now (set again only when it changes).
    private var watched: Reactor.Events = []
    private(set) var state = State.starting
    // Unchecked (see Reactor's state): the decoder is used in readable() only,
    // the outbox where a frame is encoded into it and in flush(); none of them
    // calls out while it holds one, and the loop is one thread.
    @exclusivity(unchecked) private var decoder = FrameDecoder()
    @exclusivity(unchecked) private var outbox: [UInt8] = []
    private var sockets: [Int64: ScriptSocket] = [:]
    /// Sockets that are packet captures (pcap_open).
    private var captures: [Int64: CaptureSocket] = [:]
    private var result: Value?
    private var failure: (status: String, message: String)?
    private var closed = false
    private var timeoutTimer: Int?
    private var wallTimer: Int?
    /// What the instance has used of its policy's quotas (`job.rights`).
    private var bytesSent: UInt64 = 0
    private var bytesReceived: UInt64 = 0
    private var outputBytes = 0
    private var inFlight = 0
    /// The last nmap.get_port_state answered: its arguments' bytes, the broker's
    /// count of port changes then, and the table (nil: no such port). The same
    /// bytes again with no change since are answered from it (`answeredAgain`).
    private var lastPortState: (request: [UInt8], changes: Int, table: EncodedValue?)?
    private var warnedOutput = false
    private let completion: (ScriptOutcome) -> Void
    private var holder: RegistryStore.Holder { ObjectIdentifier(self) }
    /// In a replay: the recorded instance this one answers from.
    private let replay: ReplayScript?
    /// The seed of the child's random stream: recorded in the audit log, and in a
    /// replay the recorded one, so the script draws the same numbers.
    private let randomSeed: [UInt8]
    /// How callbacks reach this session: cut by deinit.
    let link = SessionLink()

    /// When the broker began to spawn the child, or started a staged one's job
    /// (NSEBOX_BROKER_STATS measures from it).
    private var spawnTime: Double
    private var toldStart = false

    /// `hello`: the encoded hello frame (the protocol version and the policy
    /// text: the same for every instance, encoded once by the broker).
    init(job: ScriptJob, label: String, broker: Broker, rpc: NetSocket.Handle, process: InstanceProcess,
         hello: [UInt8], spawnTime: Double = 0, staged: Bool = false,
         completion: @escaping (ScriptOutcome) -> Void) {
        self.spawnTime = spawnTime
        self.job = job
        self.label = label
        self.broker = broker
        self.rpc = rpc
        self.process = process
        self.completion = completion
        // The broker's own compile jobs touch nothing: a replay has nothing to match.
        if let recording = broker.recording, job.mode != .compile {
            let target = Self.auditTarget(job)
            let rule = job.rule ?? job.mode.rawValue
            let script = ReplayScript(recorded: recording.claim(script: job.scriptName, rule: rule, target: target),
                                      script: job.scriptName, target: target)
            replay = script
            randomSeed = script.recorded?.seed ?? Self.freshSeed()
        } else {
            replay = nil
            randomSeed = Self.freshSeed()
        }
        link.session = self
        do { try self.rpc.fd.setNonBlocking() } catch { failure = ("crashed", "\(error)") }
        outbox += hello
        flush()
        if !staged { activate(spawnTime: spawnTime) }
        if case .spawned = process { begin() }
        if let replay {
            replay.onDepart = { [link] message in link.session?.departed(message) }
            let sha = AuditLog.sha256Hex(job.source[...])
            if let recorded = replay.recorded, recorded.scriptSHA256 != sha {
                replay.depart("file is not the one recorded (its SHA-256 is \(sha), the recording's \(recorded.scriptSHA256))")
            }
        }
    }

    deinit { link.session = nil }

    /// Called once, when the first message the instance sends after its job started
    /// has been handled (the broker readies the next instance then, not while this
    /// one starts).
    var onRunning: (() -> Void)?

    /// Starts the job: its timers, and for a forked instance its `run` at once
    /// (it finds its job waiting after its hello: no round trip).
    func activate(spawnTime: Double) {
        guard !activated, !closed else { return }
        activated = true
        self.spawnTime = spawnTime
        if let limit = job.timeout {
            timeoutTimer = broker.reactor.after(limit) { [link] in
                guard let self = link.session, !self.closed else { return }
                self.failure = ("timeout", "timed out after \(limit) seconds")
                self.process.kill()
                self.childGone()
            }
        }
        if let wall = job.rights.wallSeconds {
            wallTimer = broker.reactor.after(wall) { [link] in
                guard let self = link.session, !self.closed else { return }
                self.deny("ran for the policy's wall-time limit of \(Int(wall)) s and was ended")
                self.failure = ("denied", "nsebox policy: the script ran for its wall-time limit of \(Int(wall)) s and was ended")
                self.process.kill()
                self.childGone()
            }
        }
        if case .forked = process {
            sentRun = true
            send(runFrame())
        }
        if began { auditStart() }
    }

    /// The zygote forked the instance (pid in its namespace), or could not (nil).
    func forked(pid: pid_t?, failure why: String?) {
        guard case .forked(let zygote, let id, _) = process, !began, !closed else { return }
        process = .forked(zygote, id: id, pid: pid ?? -1)
        begin()
        if pid == nil {
            failure = ("crashed", "the zygote could not fork the instance: \(why ?? "fork failed")")
            childGone()
        }
    }

    /// How the job gives the child its script: an instance the zygote forked runs
    /// the chunk the zygote loaded of the same bytes; another child gets that
    /// chunk's bytecode; without either, the source.
    private func scriptCode() -> ScriptJob.Code {
        guard let code = broker.scriptBytecode(for: job) else { return .source }
        if case .forked = process { return .preloaded }
        return .bytecode(code)
    }

    /// The process exists: its messages are read, and once its job started its start record.
    private func begin() {
        began = true
        if activated { auditStart() }
        flush()
    }

    private func auditStart() {
        if broker.audit != nil {
            audit("start", [("script_path", .string(job.scriptPath)),
                            ("script_sha256", .string(broker.scriptDigest(job))),
                            ("rule", .string(job.rule ?? job.mode.rawValue)), ("policy", .string(broker.policyName)),
                            ("pid", .int(Int64(process.pid))), ("uid", .int(Int64(geteuid() == 0 ? 65534 : geteuid()))),
                            ("random_seed", .string(Self.hex(randomSeed)))])
        }
    }

    /// 32 bytes from the kernel in one getrandom(2) (every child start pays for it;
    /// drawing byte by byte cost a call each).
    static func freshSeed() -> [UInt8] {
        var seed = [UInt8](repeating: 0, count: 32)
        if seed.withUnsafeMutableBytes({ getrandom($0.baseAddress, 32, 0) }) != 32 {
            var g = SystemRandomNumberGenerator()
            seed = (0..<4).flatMap { _ in withUnsafeBytes(of: g.next()) { Array($0) } }
        }
        return seed
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// A replayed script did something its recording does not have: it is ended,
    /// and the replay's user is told where.
    private func departed(_ message: String) {
        guard !closed else { return }
        broker.recording?.noteDeparture(message)
        failure = ("replay-departed", message)
        process.kill()
        childGone()
    }

    /// Tells the engine a request was refused (it shows a warning), and the audit log.
    private func deny(_ what: String) {
        audit("denied", [("what", .string(what))])
        broker.onDenied(job.scriptName, what)
    }

    /// Who this instance's records are about, made once.
    private lazy var auditSource = AuditLog.Source(instance: label, script: job.scriptName, target: Self.auditTarget(job))

    /// The job, and how the instance is to wait for its replies.
    private func runFrame() -> Frame {
        Frame(.run, [job.wireValue(randomSeed: randomSeed, spinMicros: broker.replySpin(),
                                   waitInRead: Broker.repliesWaitInRead, code: scriptCode())])
    }

    /// What the audit log calls this instance's target: "HOST" or "HOST:PORT/PROTO".
    static func auditTarget(_ job: ScriptJob) -> String {
        guard let host = job.hostKey else { return "" }
        guard let port = job.port, let number = port["number"].int else { return host }
        return "\(host):\(number)/\(port["protocol"].text ?? "tcp")"
    }

    /// "ADDRESS:PORT", with brackets around an IPv6 address.
    static func endpoint(_ address: String, _ port: Int) -> String {
        address.utf8.contains(UInt8(ascii: ":")) ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// A `tls` record for a socket whose handshake just completed.
    private func auditTLS(_ s: ScriptSocket) {
        guard broker.audit != nil, let facts = s.tlsFacts else { return }
        audit("tls", [("socket", .int(s.id)), ("result", .string("ok")), ("version", .string(facts.version)),
                      ("cipher", .string(facts.cipher)),
                      ("peer_certificate_sha256", .string(facts.certificate.map { AuditLog.sha256Hex($0[...]) } ?? "")),
                      ("peer_certificate", .bytes((facts.certificate ?? [])[...]))])
    }

    /// Records an event of this instance, if there is an audit log.
    /// `fields` are built only when there is a log (every send and receive calls this).
    private func audit(_ event: String, _ fields: @autoclosure () -> [(String, AuditLog.Field)]) {
        guard let log = broker.audit else { return }
        log.record(event, from: auditSource, fields())
    }

    // MARK: input

    private func readable() {
        // A few reads at most, then the other descriptors get their turn.
        for _ in 0..<16 where !closed {
            let count: Int?
            do { count = try decoder.fill { try rpc.fd.read(into: $0) } } catch { return childGone() }
            guard let count else { return }
            if count == 0 { return childGone() }
            do {
                while !closed, let raw = try decoder.nextRaw() {
                    if !answeredAgain(raw) { try handle(raw.decoded()) }
                }
            } catch let e as WireError {
                return violation("protocol violation: bad frame: \(e)")
            } catch {
                return violation("\(error)")
            }
            // A read that took all there was: poll (level-triggered) says when
            // there is more, so one read, not a second that says EAGAIN, per request.
            if decoder.bufferedCount == 0 { return }
        }
    }

    /// A get_port_state whose arguments are byte for byte the last one's, with no
    /// port table changed since: answered from `lastPortState`, the request
    /// neither decoded nor looked up (a script that polls its port's table asks
    /// the same thing again and again). The same bytes passed the schema's check
    /// the first time; what can have changed since, the session's state and its
    /// requests in flight, is checked by `admit`, as for every request.
    private func answeredAgain(_ raw: RawFrame) -> Bool {
        guard raw.op == Op.getPortState.rawValue, onRunning == nil, let last = lastPortState,
              last.changes == broker.portChanges, sameBytes(last.request, raw.values) else { return false }
        guard admit(.getPortState) else { return true }
        if let table = last.table { reply(.getPortState, raw.requestID, encoded: table) }
        else { reply(.getPortState, raw.requestID, one: .none) }
        return true
    }

    /// Counts a request and checks it against the permission table and the
    /// limit of requests in flight; false after ending the child for it.
    @inline(__always)
    private func admit(_ op: Op) -> Bool {
        broker.requestCounts[Int(op.rawValue)] += 1
        guard ChildSession.permittedStates[Int(op.rawValue)] & state.bit != 0 else {
            violation("protocol violation: \(op) is not permitted while the child is \(state)")
            return false
        }
        if op.expectsReply {
            inFlight += 1
            guard inFlight <= ChildSession.maxInFlight else {
                violation("more than \(ChildSession.maxInFlight) requests awaiting a reply")
                return false
            }
        }
        return true
    }

    private func handle(_ frame: Frame) throws {
        // After this message is handled and its reply written: the fork that
        // readying the next instance asks for must not delay this one's answer.
        let running = sentRun ? onRunning : nil
        if running != nil { onRunning = nil }
        defer { running?() }
        guard !frame.isReply, let op = frame.request, op.sender == .child else {
            let name = frame.request.map { "\($0)" } ?? "?"
            let who = frame.request?.sender == .zygote ? "the zygote" : "the broker"
            return violation("protocol violation: the child sent \(name) (message \(frame.op)), which only \(who) may send")
        }
        try frame.validateArguments()
        guard admit(op) else { return }
        let v = frame.values
        let id = frame.requestID
        // Nested functions, not closures: a reply made at once allocates nothing,
        // and a context is made only where one escapes (a socket's later reply).
        let link = self.link
        func answer(_ values: [Value]) { link.session?.reply(op, id, values) }
        func answer(_ value: Value) { link.session?.reply(op, id, one: value) }
        switch op {
        case .helloAck:
            guard v[0].int == WireLimits.protocolVersion else {
                return violation("protocol violation: child speaks protocol version \(v[0].int ?? -1), broker \(WireLimits.protocolVersion)")
            }
            state = .running
            if !sentRun && activated { sentRun = true; send(runFrame()) }
        case .connect:
            guard let s = socket(v[0]) else { return }
            connect(s, host: v[1].text ?? "", port: Int(v[2].int ?? -1), proto: v[3].text ?? "",
                    source: (v[4].text ?? "", Int(v[5].int ?? -1)), reply: answer)
        case .send:
            guard let s = socket(v[0]), case .bytes(let data) = v[1] else { return }
            guard mayRelease(data.count) else { return answer(sendQuotaReply) }
            audit("send", [("socket", .int(v[0].int ?? -1)), ("bytes", .int(Int64(data.count))), ("data", .bytes(data[...]))])
            s.send(data, reply: answer)
        case .sendTo:
            guard let s = socket(v[0]), case .bytes(let data) = v[3] else { return }
            let host = v[1].text ?? "", port = Int(v[2].int ?? -1)
            guard (0...65535).contains(port), let address = destination(host, port: port),
                  let sa = SocketAddress(ip: address, port: port) else {
                broker.onDenied(job.scriptName, "sendto \(host):\(port) refused: not a host under scan")
                return answer([.bool(false), .string("nsebox: \(host) is not a host under scan")])
            }
            guard mayRelease(data.count) else { return answer(sendQuotaReply) }
            audit("sendto", [("socket", .int(v[0].int ?? -1)), ("destination", .string(Self.endpoint(address, port))),
                             ("bytes", .int(Int64(data.count))), ("data", .bytes(data[...]))])
            s.sendTo(sa, data, reply: answer)
        case .receive:
            guard let s = socket(v[0]) else { return }
            guard let mode = ReceiveMode(rawValue: v[1].int ?? -1) else { return violation("bad receive mode") }
            if let limit = job.rights.receivedBytes, bytesReceived >= limit {
                deny("receive refused: the policy's limit of \(limit) bytes received is used up")
                return answer([.none, .string("nsebox policy: the limit of \(limit) bytes received is used up")])
            }
            let id = v[0].int ?? -1
            s.receive(mode: mode, count: Int(clamping: v[2].int ?? 1)) { [link] values in
                if values.count > 1, case .bytes(let data) = values[1] {
                    link.session?.bytesReceived += UInt64(data.count)
                    if values[0] == .bool(true) {
                        link.session?.audit("receive", [("socket", .int(id)), ("bytes", .int(Int64(data.count))), ("data", .bytes(data[...]))])
                    } else {
                        // No bytes: the error the script gets ("EOF", "TIMEOUT", ...).
                        link.session?.audit("receive", [("socket", .int(id)), ("bytes", .int(0)),
                                                ("result", .string(String(decoding: data, as: UTF8.self)))])
                    }
                }
                answer(values)
            }
        case .close where captures[v[0].int ?? -1] != nil, .closeAnswered where captures[v[0].int ?? -1] != nil:
            let c = captures.removeValue(forKey: v[0].int ?? -1)!
            audit("close", [("socket", .int(c.id))])
            c.close()
            broker.releaseCapture(c.handle)
            if op == .close { answer([.bool(true)]) }
        case .close, .closeAnswered:
            // closeAnswered: the script has its answer; the close still waits
            // behind the socket's pending operations, as a close request does.
            guard let s = socket(v[0]) else { return }
            if s.isOpen { audit("close", [("socket", .int(v[0].int ?? -1))]) }
            s.close(reply: op == .close ? answer : { _ in })
        case .setTimeout:
            if let c = captures[v[0].int ?? -1] { c.timeoutMs = Int(clamping: max(-1, v[1].int ?? 30_000)); return }
            guard let s = socket(v[0]) else { return }
            s.timeoutMs = Int(clamping: max(-1, v[1].int ?? 30_000))
        case .reconnectSSL:
            guard let s = socket(v[0]) else { return }
            s.startTLS { [link] values in
                if values.first == .bool(true) { link.session?.auditTLS(s) } else {
                    link.session?.audit("tls", [("socket", .int(s.id)), ("result", .string(values.count > 1 ? values[1].text ?? "ERROR" : "ERROR"))])
                }
                answer(values)
            }
        case .getSSLCertificate:
            guard let s = socket(v[0]) else { return }
            s.peerCertificate(reply: answer)
        case .getInfo:
            guard let s = socket(v[0]) else { return }
            s.info(reply: answer)
        case .sleep:
            let ms = Double(max(0, min(v[0].int ?? 0, 86_400_000)))
            broker.reactor.after(ms / 1000) { answer([]) }
        case .registryAcquire:
            guard let scope = registryScope(v[0]) else { return answer([.none]) }
            broker.registry.acquire(holder, scope: scope, with: companionScope(of: scope)) { contents in answer([contents]) }
        case .registryRelease:
            guard let scope = registryScope(v[0]) else { return }
            // Changed contents are measured once, and only when the policy or the log asks.
            if case .table = v[1], job.rights.registryBytes != nil || broker.audit != nil {
                let size = frame.encoded().count
                if let limit = job.rights.registryBytes, size > limit {
                    deny("registry write refused: more than the policy's \(limit) bytes")
                    return violation("nsebox policy: the script wrote more than \(limit) bytes to the registry")
                }
                audit("registry", [("scope", .string(scope)), ("bytes", .int(Int64(size)))])
            }
            broker.registry.release(holder, scope: scope, contents: v[1])
        case .mutexLock:
            let h = MutexTable.Holder(session: holder, thread: v[1].int ?? 0)
            // A mutex named after a registry table: the script reads that table
            // under the lock, so the lock lends its scope too, when nobody holds
            // or waits for the registry (one round trip fewer; docs/rpc.md).
            let scope = registryScope(v[2]), registry = broker.registry, me = holder
            let companion = scope.flatMap(companionScope)
            broker.mutexes.lock(v[0].text ?? "", by: h) {
                if let scope, let contents = registry.lendIfFree(me, scope: scope, with: companion) {
                    answer([.bool(true), contents])
                } else {
                    answer([.bool(true)])
                }
            }
        case .mutexTryLock:
            let h = MutexTable.Holder(session: holder, thread: v[1].int ?? 0)
            answer([.bool(broker.mutexes.tryLock(v[0].text ?? "", by: h))])
        case .mutexUnlock:
            broker.mutexes.unlock(v[0].text ?? "", by: MutexTable.Holder(session: holder, thread: v[1].int ?? 0))
        case .getPorts:
            answer([.array(broker.ports(job.hostKey, v[0].text ?? "", v[1].text ?? ""))])
        case .loadModule:
            let name = v[0].text ?? ""
            if job.mode != .compile { broker.instanceModuleLoads += 1 }
            if let m = broker.files.module(name) {
                // Bytecode compiled by the broker's own compile job, once it has it;
                // a compile job itself always gets the source.
                if job.mode != .compile, let code = broker.modules.code(name) {
                    return answer([.bytes(code), .string(m.chunkName), .string("b")])
                }
                if job.mode != .compile { broker.compileLater(name) }
                answer([.bytes(m.source), .string(m.chunkName), .string("t")])
            } else {
                answer([.none, .string("module '\(name)' not found in nselib")])
            }
        case .readDataFile:
            answer(readDataFile(v[0].text ?? ""))
        case .fileInfo:
            answer(broker.files.info(v[0].text ?? "").map { [$0] } ?? [.none, .string("No such file or not readable by scripts")])
        case .resolve:
            let name = v[0].text ?? "", family = v[1].text ?? ""
            guard !name.isEmpty, name.utf8.count < 256 else { return answer([.bool(false), .string("Failed to resolve")]) }
            let resolved: ([String]) -> Void = { [link] addresses in
                link.session?.audit("resolve", [("name", .string(name)), ("family", .string(family)),
                                        ("addresses", .string(addresses.joined(separator: " ")))])
                if addresses.isEmpty { answer([.bool(false), .string("Failed to resolve")]) }
                else { answer([.bool(true), .array(addresses.map { .string($0) })]) }
            }
            if let replay {
                if let recorded = replay.resolve(name, family: family) { resolved(recorded.addresses) }
            } else {
                broker.background.run({ NetworkFacts.resolve(name, family: family) }, completion: resolved)
            }
        case .dnsServers:
            answer([.array(NetworkFacts.dnsServers().map { .string($0) })])
        case .interfaces:
            answer([.array(broker.interfaces)])
        case .addTargets:
            let specs = v[0].arrayPart.compactMap(\.text)
            let (added, error) = broker.addTargets(specs)
            answer(error.map { [.none, .string($0)] } ?? [.int(Int64(added))])
        case .newTargetsNum:
            answer(.int(Int64(broker.newTargetsCount())))
        case .getPortState:
            // Asked again with the same bytes, it is `answeredAgain`.
            let table = broker.portState(job.hostKey, Int(v[0].int ?? -1), v[1].text ?? "")
            var request: [UInt8] = []
            for value in v { value.encode(into: &request) }  // the child's encoding is the same
            lastPortState = (request, broker.portChanges, table)
            if let table { reply(op, id, encoded: table) } else { answer(.none) }
        case .setPortState:
            guard let state = v[2].text, state == "open" || state == "closed" else {
                return violation("protocol violation: port state must be open or closed")
            }
            broker.changePort(job.hostKey, Int(v[0].int ?? -1), v[1].text ?? "", .state(state))
        case .setPortVersion:
            broker.changePort(job.hostKey, Int(v[0].int ?? -1), v[1].text ?? "", .version(v[2]))
        case .pcapOpen where replay != nil, .rawSend where replay != nil:
            // A replay stays off the network; raw packets are not answered from a recording.
            replay?.depart(op == .pcapOpen ? "opens a packet capture: raw packets are not replayed"
                                           : "sends a raw packet: raw packets are not replayed")
        case .pcapOpen:
            answer(openCapture(v[0].int ?? -1, device: v[1].text ?? "", snaplen: Int(clamping: v[2].int ?? 0),
                               promisc: v[3].int == 1, bpf: v[4].text ?? ""))
        case .pcapReceive:
            guard let c = captures[v[0].int ?? -1] else { return answer([.none, .string("not a pcap socket")]) }
            c.receive(reply: answer)
        case .rawSend:
            guard case .bytes(let data) = v[2] else { return }
            answer(rawSend(kind: v[0].text ?? "", device: v[1].text ?? "", data, destination: v[3].text ?? ""))
        case .log:
            if Broker.statsEnabled && !toldStart {
                // The time from spawning to the script's first log line (bench/run's micro).
                toldStart = true
                let ms = (Reactor.now() - spawnTime) * 1000
                FileHandleStderrBroker.write("nsebox broker: \(label): first log line \(Int((ms * 1000).rounded())) us after spawn\n")
            }
            // A child picks one of its own channels; it cannot speak as nsebox.
            let channel = ["stdout", "stderr"].contains(v[0].text ?? "") ? v[0].text! : "print"
            let text = v[1].text ?? ""
            guard mayOutput(text.utf8.count) else { return }
            broker.onLog(ScriptLog(script: job.scriptName, channel: channel, text: text))
        case .result:
            state = .finished
            var size = 0
            if case .bytes(let b) = v[0]["output"] { size = b.count }
            guard mayOutput(size) else {
                failure = ("denied", "nsebox policy: the script's output passed its limit of \(job.rights.outputBytes ?? 0) bytes")
                return
            }
            result = v[0]
        case .hello, .run, .spawnChild, .killChild, .zygoteReady, .childSpawned, .childExited, .zygoteBytecode:
            break // refused above: the broker's, or the zygote's, never a script's
        }
    }

    // MARK: raw packets

    /// pcap_open: only with the policy's `raw yes`; the script's filter is narrowed
    /// to the hosts under scan unless the policy lets it reach broadcast.
    private func openCapture(_ id: Int64, device: String, snaplen: Int, promisc: Bool, bpf: String) -> [Value] {
        guard job.rights.raw else {
            deny("pcap_open refused: the policy allows this script no raw packets")
            return [.none, .string("nsebox policy: no raw packets for this script")]
        }
        guard captures[id] == nil, sockets[id]?.isOpen != true else { return [.none, .string("socket is already open")] }
        guard openSockets + captures.count < job.rights.sockets else {
            deny("pcap_open refused: the policy allows \(job.rights.sockets) open sockets")
            return [.none, .string("nsebox: more than \(job.rights.sockets) open sockets")]
        }
        // Network interfaces only: libpcap also opens USB, D-Bus and netfilter
        // "devices", which are no business of a network script.
        guard device == "any" || if_nametoindex(device) > 0 else {
            deny("pcap_open on '\(device)' refused: not a network interface")
            return [.none, .string("can't open pcap reader on \(device): not a network interface")]
        }
        var filter = bpf
        if !job.rights.network.contains(.broadcast) {
            let hosts = job.scope.addresses.sorted()
            guard !hosts.isEmpty else {
                deny("pcap_open refused: no host under scan to capture from")
                return [.none, .string("nsebox policy: no host under scan to capture from")]
            }
            let scope = "(" + hosts.map(Self.captureScope).joined(separator: " or ") + ")"
            filter = bpf.allSatisfy { $0 == " " } ? scope : scope + " and (" + bpf + ")"
        }
        switch broker.openCapture(device: device, snaplen: snaplen, promisc: promisc, filter: filter) {
        case .failure(let e):
            return [.none, .string("can't open pcap reader on \(device): \(e)")]
        case .success(let handle):
            let c = CaptureSocket(id: id, handle: handle, reactor: broker.reactor)
            captures[id] = c
            audit("pcap_open", [("socket", .int(id)), ("device", .string(device)), ("snaplen", .int(Int64(snaplen))),
                                ("promisc", .bool(promisc)), ("bpf", .string(bpf)), ("filter", .string(filter))])
            if broker.audit != nil {
                c.onDeliver = { [link] p in
                    link.session?.audit("packet", [("socket", .int(id)), ("length", .int(Int64(p.length))),
                                           ("bytes", .int(Int64(p.layer2.count + p.layer3.count))),
                                           ("link_header", .int(Int64(p.layer2.count))),
                                           ("data", .bytes((p.layer2 + p.layer3)[...])), ("time", .double(p.time))])
                }
            }
            return [.bool(true)]
        }
    }

    /// What a capture may see of one host under scan: its packets, and (IPv4) the
    /// ICMP errors a router sends about packets to it (time exceeded, unreachable,
    /// parameter problem: the quoted header's destination, 24 bytes into the ICMP
    /// message), which traceroute-like scripts (firewalk) listen for.
    static func captureScope(_ host: String) -> String {
        let octets = host.split(separator: ".").compactMap { UInt8($0) }
        guard octets.count == 4 else { return "host " + host }
        let hex = octets.map { String($0, radix: 16).leftPadded(2) }.joined()
        return "host \(host) or (icmp and (icmp[0] = 3 or icmp[0] = 11 or icmp[0] = 12) and icmp[24:4] = 0x\(hex))"
    }

    /// ip_send and ethernet_send: only with `raw yes`, and only to a host under
    /// scan (or a broadcast address when the policy allows; any frame then).
    private func rawSend(kind: String, device: String, _ data: [UInt8], destination given: String) -> [Value] {
        guard job.rights.raw else {
            deny("\(kind)_send refused: the policy allows this script no raw packets")
            return [.bool(false), .string("nsebox policy: no raw packets for this script")]
        }
        let isIP = kind == "ip"
        let target = isIP ? (given.isEmpty ? RawSender.destination(ofPacket: data[...]) : given) : RawSender.destination(ofFrame: data)
        guard let target else {
            guard !isIP, job.rights.network.contains(.broadcast) else {
                deny("\(kind)_send refused: the packet's destination cannot be read")
                return [.bool(false), .string(isIP ? "can't parse ip packet" : "nsebox policy: a frame to no host under scan")]
            }
            return sendRaw(kind, device, data, "", isIP)
        }
        guard let address = destination(target, port: 0) else {
            deny("\(kind)_send to \(target) refused: not a host under scan")
            return [.bool(false), .string("nsebox: \(target) is not a host under scan")]
        }
        return sendRaw(kind, device, data, address, isIP)
    }

    private func sendRaw(_ kind: String, _ device: String, _ data: [UInt8], _ address: String, _ isIP: Bool) -> [Value] {
        guard mayRelease(data.count) else { return sendQuotaReply }
        audit("raw_send", [("kind", .string(kind)), ("device", .string(device)), ("destination", .string(address)),
                           ("bytes", .int(Int64(data.count))), ("data", .bytes(data[...]))])
        let error = isIP ? broker.raw.sendIP(data, to: address) : broker.raw.sendFrame(data, device: device)
        // nmap's dnet answers false, not nil, with its error.
        return error.map { [.bool(false), .string($0)] } ?? [.bool(true)]
    }

    private var openSockets: Int { sockets.values.lazy.filter(\.isOpen).count }

    /// The address a script may reach for `host`: a host under scan, or what the
    /// policy's `network` adds (a DNS server on port 53; a broadcast or multicast
    /// address).
    private func destination(_ host: String, port: Int) -> String? {
        if let address = job.scope.address(for: host) { return address }
        let reach = job.rights.network
        if reach.isEmpty || SocketAddress(ip: host, port: 0) == nil { return nil }
        if reach.contains(.dns), port == 53, NetworkFacts.dnsServers().contains(host) { return host }
        if reach.contains(.broadcast), NetworkFacts.isBroadcast(host, interfaces: broker.interfaces) { return host }
        return nil
    }

    /// Counts bytes about to be sent against the policy's limit.
    private func mayRelease(_ count: Int) -> Bool {
        if let limit = job.rights.sentBytes, bytesSent + UInt64(count) > limit {
            deny("send refused: the policy's limit of \(limit) bytes sent would be passed")
            return false
        }
        bytesSent += UInt64(count)
        return true
    }

    private var sendQuotaReply: [Value] {
        [.none, .string("nsebox policy: the limit of \(job.rights.sentBytes ?? 0) bytes sent would be passed")]
    }

    /// Counts log and result bytes against the policy's output limit; past it,
    /// log lines are dropped (the engine is told once).
    private func mayOutput(_ count: Int) -> Bool {
        outputBytes += count
        guard let limit = job.rights.outputBytes, outputBytes > limit else { return true }
        if !warnedOutput {
            warnedOutput = true
            deny("output past the policy's limit of \(limit) bytes is dropped")
        }
        return false
    }

    /// The socket a request names, created at first use. Records of closed sockets
    /// are dropped when there are many (a brute-force script opens thousands).
    private func socket(_ v: Value) -> ScriptSocket? {
        let id = v.int ?? -1
        if let s = sockets[id] { return s }
        if sockets.count >= ChildSession.maxSocketRecords {
            sockets = sockets.filter { $0.value.isOpen || $0.value.isBusy }
        }
        guard sockets.count < ChildSession.maxSocketRecords else {
            violation("more than \(ChildSession.maxSocketRecords) sockets in use")
            return nil
        }
        let s: ScriptSocket = replay?.socket(id: id) ?? NetSocket(id: id, reactor: broker.reactor)
        sockets[id] = s
        return s
    }

    /// The global scope comes with this process's own host scope (RegistryStore:
    /// so that a holder of the global scope never waits).
    private func companionScope(of scope: String) -> String? {
        scope == "global" ? job.hostKey.map { "host:" + $0 } : nil
    }

    private func registryScope(_ v: Value) -> String? {
        switch v.text {
        case "global": return "global"
        case "host": return job.hostKey.map { "host:" + $0 }
        default: return nil
        }
    }

    /// `source` is what the script gave `bind` ("" = the unspecified address, -1 =
    /// no bind): an IP literal of the destination's family and a port, bound just
    /// before the connect as nsock does (rpc.lua binds a reserved port as root).
    private func connect(_ s: ScriptSocket, host: String, port: Int, proto: String, source: (String, Int),
                         reply: @escaping NetSocket.Reply) {
        guard proto == "tcp" || proto == "udp" || proto == "ssl" else {
            return reply([.bool(false), .string("unknown protocol '\(proto)'")])
        }
        guard (0...65535).contains(port) else { return reply([.none, .string("port out of range")]) }
        guard let address = destination(host, port: port) else {
            broker.onDenied(job.scriptName, "connect to \(host):\(port) refused: not a host under scan")
            return reply([.bool(false), .string("nsebox: \(host) is not a host under scan")])
        }
        guard openSockets < job.rights.sockets else {
            deny("connect refused: the policy allows \(job.rights.sockets) open sockets")
            return reply([.bool(false), .string("nsebox: more than \(job.rights.sockets) open sockets")])
        }
        guard let sa = SocketAddress(ip: address, port: port) else { return reply([.none, .string("bad address")]) }
        var local: SocketAddress? = nil
        if source.0 != "" || source.1 >= 0 {
            let any = sa.family == AF_INET6 ? "::" : "0.0.0.0"
            guard (0...65535).contains(source.1),
                  let bound = SocketAddress(ip: source.0.isEmpty ? any : source.0, port: source.1),
                  bound.family == sa.family else {
                return reply([.none, .string("bind: \(source.0.isEmpty ? any : source.0) port \(source.1) does not fit \(address)")])
            }
            local = bound
        }
        s.serverName = serverName(host: host, address: address)
        let id = s.id
        s.connect(to: sa, from: local, udp: proto == "udp", tls: proto == "ssl") { [link] values in
            // Recorded before the script learns the result.
            let result = values.first == .bool(true) ? "ok" : (values.count > 1 ? values[1].text ?? "error" : "error")
            link.session?.audit("connect", [("socket", .int(id)), ("protocol", .string(proto)),
                                    ("source", .string(s.localAddress ?? "")),
                                    ("destination", .string(Self.endpoint(address, port))), ("result", .string(result))])
            if result == "ok" { link.session?.auditTLS(s) }
            reply(values)
        }
    }

    /// The name TLS sends as SNI on this connection, as nmap does: the name the
    /// script connected to, or the target name of the job's host when the script
    /// gave that host's address. Never an address.
    private func serverName(host: String, address: String) -> String? {
        if host != address && !job.scope.addresses.contains(host) { return host }
        if let h = job.host, h["ip"].text == address, let name = h["targetname"].text, !name.isEmpty { return name }
        return nil
    }

    /// `?name` asks for fetchfile's answer (a path); anything else is a read.
    private func readDataFile(_ what: String) -> [Value] {
        if what.hasPrefix("?") {
            return [broker.files.locate(String(what.dropFirst())).map { .string($0) } ?? .none]
        }
        if let bytes = broker.files.readAllowed(what, sources: job.rights.read) {
            audit("read", [("path", .string(what)), ("bytes", .int(Int64(bytes.count)))])
            return [.bytes(bytes)]
        }
        return [.none, .string("No such file or not readable by scripts")]
    }

    // MARK: output

    private func reply(_ op: Op, _ id: UInt32, _ values: [Value]) {
        inFlight -= 1
        send(Frame.reply(to: op, requestID: id, values))
    }

    private func reply(_ op: Op, _ id: UInt32, one value: Value) {
        inFlight -= 1
        guard !closed else { return }
        Frame.encodeReply(to: op, requestID: id, value, into: &outbox)
        flush()
    }

    /// A reply whose one value the broker encoded once (a port table).
    private func reply(_ op: Op, _ id: UInt32, encoded value: EncodedValue) {
        inFlight -= 1
        guard !closed else { return }
        Frame.encodeReply(to: op, requestID: id, value, into: &outbox)
        flush()
    }

    private func send(_ frame: Frame) {
        guard !closed else { return }
        frame.encode(into: &outbox)
        flush()
    }

    private func flush() {
        while !outbox.isEmpty && !closed {
            let n: Int?
            do { n = try rpc.fd.write(outbox[...]) } catch {
                // The child stopped reading (it may have exited after its result):
                // drop what is queued; the read side still drains what it sent.
                outbox = []
                break
            }
            guard let n else { break }
            if n == outbox.count { outbox.removeAll(keepingCapacity: true) } else { outbox.removeFirst(n) }
        }
        guard !closed else { return }
        if outbox.count > ChildSession.maxOutbox { return violation("child does not read its replies") }
        let events = (began ? Reactor.Events.read : []).union(outbox.isEmpty ? [] : Reactor.Events.write)
        guard events != watched else { return }
        watched = events
        guard !events.isEmpty else { return broker.reactor.unwatch(rpc.raw) }
        broker.reactor.watch(rpc.raw, events) { [link] r, w, hup in
            guard let self = link.session else { return }
            if r || hup { self.readable() }
            if w && !self.closed { self.flush() }
        }
    }

    // MARK: the end

    /// Ends a child that broke the protocol.
    private func violation(_ reason: String) {
        guard !closed else { return }
        failure = ("protocol-error", reason)
        process.kill()
        childGone()
    }

    /// The child's socket closed: release everything it held and report.
    private func childGone() {
        guard !closed else { return }
        closed = true
        broker.reactor.cancel(timeoutTimer)
        broker.reactor.cancel(wallTimer)
        broker.reactor.unwatch(rpc.raw)
        watched = []
        for s in sockets.values { s.closeNow() }
        sockets = [:]
        for c in captures.values { c.close(); broker.releaseCapture(c.handle) }
        captures = [:]
        broker.registry.abandon(holder)
        broker.mutexes.abandon(session: holder)
        if let replay, failure == nil {
            let left = replay.leftovers
            if !left.isEmpty {
                let message = "replay: \(replay.name): the script ended without \(left.count) recorded operation\(left.count == 1 ? "" : "s") (the first: \(left[0]))"
                broker.recording?.noteDeparture(message)
                broker.onDenied(job.scriptName, message)
            }
        }
        broker.reap(process) { [self] exit, usage in
            let result = outcome(exit: exit)
            var fields: [(String, AuditLog.Field)] = [("status", .string(result.status)), ("exit", .string(exit.description))]
            if let usage {
                fields.append(("cpu_ms", .int(Int64(usage.cpu * 1000))))
                fields.append(("max_rss_kib", .int(Int64(usage.maxKiB))))
            }
            if let message = result.message { fields.append(("message", .string(message))) }
            if activated { audit("exit", fields) } // else no start record either: the job is queued again
            completion(result)
        }
    }

    private func outcome(exit: ChildExit) -> ScriptOutcome {
        if let failure {
            return ScriptOutcome(status: failure.status, message: failure.message, exit: exit.description)
        }
        guard let result, case .table = result else {
            return ScriptOutcome(status: "crashed", message: "child ended (\(exit)) before reporting a result",
                                 exit: exit.description)
        }
        var output: [UInt8]?
        if case .bytes(let b) = result["output"] { output = b }
        let structured = result["structured"]
        return ScriptOutcome(status: result["status"].text ?? "error", output: output,
                             structured: structured.isNone ? nil : structured,
                             message: result["message"].text, result: result, exit: exit.description)
    }
}

private extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// glibc's getrandom(2) (sys/random.h is not part of the Glibc module).
@_silgen_name("getrandom") private func getrandom(_ buf: UnsafeMutableRawPointer?, _ count: Int, _ flags: UInt32) -> Int
