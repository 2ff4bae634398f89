import NSEWire

/// One script instance's share of a replay: the recorded instance it was matched
/// with, whose conversations its sockets claim as they connect. Anything the
/// script does that the recording does not have is a departure: the instance is
/// ended and the message says where.
final class ReplayScript {
    let recorded: Recording.Instance?
    /// "banner against 127.0.0.1:22/tcp (recorded as banner#7)".
    let name: String
    private var conversations: [Recording.Conversation?]
    private var resolves: [Recording.Resolve?]
    private var sockets: [ReplaySocket] = []
    var onDepart: (String) -> Void = { _ in }

    init(recorded: Recording.Instance?, script: String, target: String) {
        self.recorded = recorded
        self.name = script + (target.isEmpty ? "" : " against \(target)") + (recorded.map { " (recorded as \($0.label))" } ?? "")
        conversations = recorded?.conversations.map { $0 } ?? []
        resolves = recorded?.resolves.map { $0 } ?? []
    }

    func socket(id: Int64) -> ReplaySocket {
        let s = ReplaySocket(id: id, script: self)
        sockets.append(s)
        return s
    }

    /// The first unclaimed conversation whose first operation is `matches`.
    func claim(_ matches: (Recording.Event) -> Bool) -> Recording.Conversation? {
        guard let i = conversations.firstIndex(where: { $0.map { c in c.events.first.map(matches) ?? false } ?? false }) else {
            return nil
        }
        defer { conversations[i] = nil }
        return conversations[i]
    }

    /// The recorded answer to resolving `name`, in the order of the recording.
    func resolve(_ name: String, family: String) -> Recording.Resolve? {
        guard let i = resolves.firstIndex(where: { $0?.name == name && $0?.family == family }) else {
            depart("resolves \(name) (\(family.isEmpty ? "any family" : family)), which the recording does not have")
            return nil
        }
        defer { resolves[i] = nil }
        return resolves[i]
    }

    func depart(_ what: String) {
        onDepart("replay: \(name): \(recorded == nil ? "the recording has no such instance, and the script " : "the script ")\(what)")
    }

    /// What the recording has that the script did not do, once it has ended.
    var leftovers: [String] {
        var out: [String] = []
        for s in sockets { if let e = s.remaining.first { out.append("\(e.summary) on socket \(s.id)") } }
        for c in conversations.compactMap({ $0 }) { if let e = c.events.first { out.append("\(e.summary) on socket \(c.socket)") } }
        for r in resolves.compactMap({ $0 }) { out.append("resolving \(r.name)") }
        return out
    }
}

/// A socket of a replayed instance: every operation is answered from the recorded
/// conversation, in order, without touching the network. A send must carry the
/// recorded bytes (the script's random numbers repeat: the instance gets its
/// recorded seed), a receive gets the recorded bytes or error.
final class ReplaySocket: ScriptSocket {
    let id: Int64
    var timeoutMs = 30_000
    var serverName: String?
    private let script: ReplayScript
    private(set) var remaining: ArraySlice<Recording.Event> = []
    private var peer: String?
    private var step = 0
    private var tls: (version: String, cipher: String, certificate: [UInt8]?)?
    private(set) var isOpen = false
    private(set) var localAddress: String?

    init(id: Int64, script: ReplayScript) { self.id = id; self.script = script }

    var isBusy: Bool { false }
    var tlsFacts: (version: String, cipher: String, certificate: [UInt8]?)? { tls }

    func connect(to address: SocketAddress, from source: SocketAddress?, udp: Bool, tls useTLS: Bool, reply: @escaping Reply) {
        let proto = useTLS ? "ssl" : udp ? "udp" : "tcp", destination = address.description
        closeNow()
        guard let c = script.claim({ if case .connect(proto, _, destination, _) = $0 { return true }; return false }) else {
            return script.depart("makes a \(proto) connect to \(destination) that the recording does not have")
        }
        begin(c, peer: destination)
        guard case .connect(_, let local, _, let result)? = remaining.popFirst() else { return }
        guard result == "ok" else { return reply([.none, .string(result)]) }
        isOpen = true
        localAddress = local
        if useTLS, case .tls(_, let version, let cipher, let certificate)? = remaining.first {
            remaining.removeFirst()
            tls = (version, cipher, certificate)
        }
        reply([.bool(true)])
    }

    func startTLS(reply: @escaping Reply) {
        guard isOpen else { return reply([.none, "ERROR"]) }
        guard let (result, facts) = expect("starts TLS", { e -> (String, (String, String, [UInt8]?))? in
            if case .tls(let r, let v, let c, let cert) = e { return (r, (v, c, cert)) }
            return nil
        }) else { return }
        guard result == "ok" else { return reply([.none, .string(result)]) }
        tls = facts
        reply([.bool(true)])
    }

    func peerCertificate(reply: @escaping Reply) {
        guard isOpen, let tls else { return reply([.none, "not a SSL socket"]) }
        guard let der = tls.certificate else { return reply([.none, "no peer certificate"]) }
        reply([.bool(true), .bytes(der)])
    }

    func sendTo(_ address: SocketAddress, _ data: [UInt8], reply: @escaping Reply) {
        let destination = address.description
        if !isOpen {
            guard let c = script.claim({ if case .sendTo(destination, _) = $0 { return true }; return false }) else {
                return script.depart("sends a datagram to \(destination) that the recording does not have")
            }
            begin(c, peer: nil)
            isOpen = true
        }
        guard let recorded = expect("sends \(data.count) bytes to \(destination)", { e -> [UInt8]? in
            if case .sendTo(destination, let b) = e { return b }
            return nil
        }) else { return }
        guard compare(data, recorded) else { return }
        reply([.bool(true)])
    }

    func send(_ data: [UInt8], reply: @escaping Reply) {
        guard isOpen else { return reply([.none, "ERROR"]) }
        guard let recorded = expect("sends \(data.count) bytes", { e -> [UInt8]? in
            if case .send(let b) = e { return b }
            return nil
        }) else { return }
        guard compare(data, recorded) else { return }
        reply([.bool(true)])
    }

    func receive(mode: ReceiveMode, count: Int, reply: @escaping Reply) {
        guard isOpen else { return reply([.none, "ERROR"]) }
        guard let (data, result) = expect("receives", { e -> ([UInt8]?, String)? in
            if case .receive(let d, let r) = e { return (d, r) }
            return nil
        }) else { return }
        reply(data.map { [.bool(true), .bytes($0)] } ?? [.none, .string(result)])
    }

    func close(reply: @escaping Reply) {
        guard isOpen else { return reply([.bool(false), "socket already closed"]) }
        guard expect("closes the socket", { e -> Bool? in if case .close = e { return true }; return nil }) != nil else { return }
        closeNow()
        reply([.bool(true)])
    }

    func info(reply: @escaping Reply) {
        guard isOpen, let local = localAddress.flatMap(Self.split), let remote = peer.flatMap(Self.split) else {
            return reply([.none, "ERROR"])
        }
        reply([.bool(true), .string(local.0), .int(Int64(local.1)), .string(remote.0), .int(Int64(remote.1))])
    }

    func closeNow() {
        isOpen = false
        tls = nil
    }

    // MARK: matching

    private func begin(_ c: Recording.Conversation, peer: String?) {
        remaining = c.events[...]
        self.peer = peer
        step = 0
        tls = nil
    }

    /// Takes the next recorded operation if `match` accepts it; otherwise departs,
    /// saying what the script did and what the recording has there.
    private func expect<T>(_ what: String, _ match: (Recording.Event) -> T?) -> T? {
        step += 1
        guard let next = remaining.first else {
            script.depart("\(what) on socket \(id)\(peerText) (operation \(step)), where the recording of that socket has ended")
            return nil
        }
        guard let value = match(next) else {
            script.depart("\(what) on socket \(id)\(peerText) (operation \(step)), where the recording has \(next.summary)")
            return nil
        }
        remaining.removeFirst()
        return value
    }

    /// Whether the script sent the recorded bytes, or the same lines in another
    /// order; departs at the first difference otherwise. Lines may move because
    /// Lua orders a table's string keys differently in every process (its string
    /// hash is seeded per state, from addresses and the time): http.lua's headers
    /// come out in another order in every run, under nmap as here.
    private func compare(_ sent: [UInt8], _ recorded: [UInt8]) -> Bool {
        if sent == recorded || Self.sameLines(sent, recorded) { return true }
        let common = min(sent.count, recorded.count)
        let at = (0..<common).first { sent[$0] != recorded[$0] } ?? common
        script.depart("sends \(sent.count) bytes on socket \(id)\(peerText) (operation \(step)) that differ from the "
                      + "recorded \(recorded.count) at byte \(at)")
        return false
    }

    static func sameLines(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, a.contains(10) else { return false }
        func lines(_ x: [UInt8]) -> [ArraySlice<UInt8>] {
            x.split(separator: 10, omittingEmptySubsequences: false).sorted { $0.lexicographicallyPrecedes($1) }
        }
        return lines(a) == lines(b)
    }

    private var peerText: String { peer.map { " to \($0)" } ?? "" }

    /// "ADDRESS:PORT" or "[ADDRESS]:PORT" -> (address, port).
    static func split(_ endpoint: String) -> (String, Int)? {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]) else { return nil }
        var host = String(endpoint[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}
