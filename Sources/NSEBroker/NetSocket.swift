import Glibc
import NSESystem
import NSEWire

/// A network socket a script asked for, owned by the broker. Operations run one at a
/// time in the order the script issued them, each bounded by the socket's timeout,
/// and answer with nmap's return conventions: `true[, data]`, or `nil, "TIMEOUT" |
/// "EOF" | error text`. A TCP socket may carry TLS (`TLSSession`), from the connect
/// or from a later `startTLS`; sends and receives then move plaintext.
final class NetSocket {
    typealias Reply = ([Value]) -> Void

    /// Holds the descriptor; closing is dropping the handle.
    final class Handle {
        let fd: FileDescriptor
        init(_ fd: consuming FileDescriptor) { self.fd = fd }
        var raw: Int32 { fd.raw }
    }

    let id: Int64
    var timeoutMs = 30_000
    private let reactor: Reactor
    private var handle: Handle?
    private var isUDP = false
    private var inbound: [UInt8] = []
    private var atEOF = false
    private var busy = false
    private var queued: [() -> Void] = []
    /// The running operation's timeout: when it ends, and what it does then.
    private var deadline: (at: Double, fire: () -> Void)?
    /// The reactor's timer for this socket and when it fires (`armTimeout`).
    private var timer: (id: Int, at: Double)?
    private var tls: TLSSession?
    /// The name for SNI when TLS starts: the host name the script connected to.
    var serverName: String?
    /// Called with every byte sent and received (the audit hook).
    var onTraffic: ((_ sent: Bool, _ bytes: ArraySlice<UInt8>) -> Void)?

    init(id: Int64, reactor: Reactor) { self.id = id; self.reactor = reactor }

    var isOpen: Bool { handle != nil }
    var isBusy: Bool { busy }
    var isTLS: Bool { tls != nil }

    /// Version, cipher and the peer certificate's DER of a TLS socket (the audit log).
    var tlsFacts: (version: String, cipher: String, certificate: [UInt8]?)? {
        guard let tls else { return nil }
        let n = tls.negotiated
        return (n.version, n.cipher, tls.peerCertificate())
    }

    deinit { closeNow() }

    // MARK: operations

    /// Connects (from `source` when given); with `tls`, also runs the TLS handshake,
    /// both within one timeout.
    func connect(to address: SocketAddress, from source: SocketAddress? = nil, udp: Bool, tls useTLS: Bool = false,
                 reply: @escaping Reply) {
        enqueue { [self] in
            closeNow()
            isUDP = udp
            inbound = []
            atEOF = false
            let type = (udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue))
                | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            let raw = Glibc.socket(address.family, type, 0)
            guard raw >= 0 else { return finish(reply, [.none, "ERROR"]) }
            let h = Handle(FileDescriptor(taking: raw))
            handle = h
            if let source {
                var on: Int32 = 1
                setsockopt(h.raw, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
                guard source.withSockaddr({ Glibc.bind(h.raw, $0, $1) }) == 0 else { return failConnect(reply, errno) }
            }
            armTimeout { [self] in failConnect(reply, ETIMEDOUT) }
            let r = address.withSockaddr { Glibc.connect(h.raw, $0, $1) }
            if r == 0 { return connected(h, tls: useTLS, reply) }
            guard errno == EINPROGRESS else { return failConnect(reply, errno) }
            reactor.watch(h.raw, .write) { [self] _, _, _ in
                reactor.unwatch(h.raw)
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(h.raw, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { connected(h, tls: useTLS, reply) } else { failConnect(reply, err) }
            }
        }
    }

    /// Starts TLS on a connected TCP socket (STARTTLS; nmap's reconnect_ssl). Already
    /// TLS: `true` at once, as in nmap. After a failed handshake the socket stays
    /// open but unusable (sends and receives answer "ERROR"), as in nmap.
    func startTLS(reply: @escaping Reply) {
        enqueue { [self] in
            guard let h = handle, !isUDP else { return finish(reply, [.none, "ERROR"]) }
            if tls != nil { return finish(reply, [.bool(true)]) }
            inbound = []
            atEOF = false
            armTimeout { [self] in
                tls?.abandon()
                finish(reply, [.none, "TIMEOUT"])
            }
            handshake(h, reply) { [self] in finish(reply, [.none, "ERROR"]) }
        }
    }

    /// The peer's certificate (DER) of a TLS socket.
    func peerCertificate(reply: @escaping Reply) {
        enqueue { [self] in
            guard handle != nil, let tls else { return finish(reply, [.none, "not a SSL socket"]) }
            guard let der = tls.peerCertificate() else { return finish(reply, [.none, "no peer certificate"]) }
            finish(reply, [.bool(true), .bytes(der)])
        }
    }

    /// sendto: on a UDP socket (created at first use), or a plain send when TCP.
    func sendTo(_ address: SocketAddress, _ data: [UInt8], reply: @escaping Reply) {
        enqueue { [self] in
            if handle == nil {
                let raw = Glibc.socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard raw >= 0 else { return finish(reply, [.none, "ERROR"]) }
                handle = Handle(FileDescriptor(taking: raw))
                isUDP = true
            }
            guard let h = handle else { return finish(reply, [.none, "ERROR"]) }
            // On a connected TCP socket the address is ignored, as the kernel and
            // nsock do (rpc.lua sends this way).
            if !isUDP { return sendAll(h, data, reply) }
            let n = data.withUnsafeBytes { p in address.withSockaddr { Glibc.sendto(h.raw, p.baseAddress, p.count, 0, $0, $1) } }
            if n < 0 { return finish(reply, [.none, "ERROR"]) }
            onTraffic?(true, data[...])
            finish(reply, [.bool(true)])
        }
    }

    func send(_ data: [UInt8], reply: @escaping Reply) {
        enqueue { [self] in
            guard let h = handle else { return finish(reply, [.none, .string("ERROR")]) }
            sendAll(h, data, reply)
        }
    }

    /// Writes all of `data` within the timeout (the body of an enqueued send).
    private func sendAll(_ h: Handle, _ data: [UInt8], _ reply: @escaping Reply) {
        var offset = 0
        func pump() {
            while offset < data.count {
                switch writeSome(h, data[offset...]) {
                case .done(let n):
                    onTraffic?(true, data[offset..<offset + n])
                    offset += n
                case .wait(let events):
                    reactor.watch(h.raw, events) { _, _, _ in pump() }
                    return
                case .eof, .failed:
                    return finish(reply, [.none, "ERROR"])
                }
            }
            finish(reply, [.bool(true)])
        }
        armTimeout { [self] in finish(reply, [.none, .string("TIMEOUT")]) }
        pump()
    }

    /// Receives per `mode`: anything, at least `count` bytes, or at least `count` lines.
    func receive(mode: ReceiveMode, count: Int, reply: @escaping Reply) {
        enqueue { [self] in
            guard let h = handle else { return finish(reply, [.none, .string("ERROR")]) }
            func satisfied() -> Bool {
                switch mode {
                case .any: return !inbound.isEmpty
                case .bytes: return inbound.count >= max(1, count)
                case .lines: return inbound.lazy.filter { $0 == 10 }.count >= max(1, count)
                }
            }
            func deliver() {
                let n = min(inbound.count, WireLimits.maxReceiveChunk)
                let data = Array(inbound[..<n])
                inbound.removeFirst(n)
                finish(reply, [.bool(true), .bytes(data)])
            }
            // One readiness event reads as nsock does: 8 KiB reads until a short one
            // (TLS: until OpenSSL has no more), or until past the chunk limit (the
            // count itself for receive_bytes). Scripts that parse whatever one
            // receive returns (mysql.lua) then see the pieces they see under nmap.
            let limit = mode == .bytes ? max(1, count) : NetSocket.readChunkLimit
            func pump() {
                var wouldBlock = false
                while !atEOF {
                    guard let chunk = readSome(h) else { wouldBlock = true; break }
                    if chunk.isEmpty { if readError == nil { atEOF = true }; break }
                    onTraffic?(false, chunk[...])
                    inbound.append(contentsOf: chunk)
                    if isUDP || inbound.count > limit || (tls == nil && chunk.count < NetSocket.readSize) { break }
                }
                if readError != nil { readError = nil; return finish(reply, [.none, "ERROR"]) }
                if satisfied() { return deliver() }
                if !atEOF {
                    reactor.watch(h.raw, wouldBlock ? readWaitsFor : .read) { _, _, _ in pump() }
                    return
                }
                if !inbound.isEmpty { return deliver() }
                finish(reply, [.none, .string("EOF")])
            }
            armTimeout { [self] in
                // Data read before the timeout is a success, as in nmap.
                if inbound.isEmpty { finish(reply, [.none, .string("TIMEOUT")]) } else { deliver() }
            }
            pump()
        }
    }

    func close(reply: @escaping Reply) {
        enqueue { [self] in
            if handle == nil { return finish(reply, [.bool(false), "socket already closed"]) }
            closeNow()
            finish(reply, [.bool(true)])
        }
    }

    /// The local address and port, once connected ("127.0.0.1:41766").
    var localAddress: String? {
        guard let h = handle, let local = SocketAddress.local(of: h.raw) else { return nil }
        let (host, port) = local.hostAndPort
        return host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    func info(reply: @escaping Reply) {
        guard let h = handle, let local = SocketAddress.local(of: h.raw), let remote = SocketAddress.remote(of: h.raw) else {
            return reply([.none, .string("ERROR")])
        }
        let (lh, lp) = local.hostAndPort, (rh, rp) = remote.hostAndPort
        reply([.bool(true), .string(lh), .int(Int64(lp)), .string(rh), .int(Int64(rp))])
    }

    /// Closes the descriptor and drops any pending operation without answering it
    /// (used when the owning child is gone).
    func closeNow() {
        reactor.cancel(timer?.id)
        timer = nil
        deadline = nil
        if let h = handle { reactor.unwatch(h.raw) }
        tls?.shutdown()
        tls = nil
        handle = nil
    }

    // MARK: plumbing

    private var readError: Int32?
    /// What the last read that found nothing waits for (TLS may need to write first).
    private var readWaitsFor: Reactor.Events = .read

    /// nsock's read size, and the most it gathers in one receive (NSOCK_READ_CHUNK_SIZE).
    static let readSize = 8192
    static let readChunkLimit = 0x8FFFF
    /// Where a plain read lands before it is copied out at its length: a
    /// zeroed 8 KiB Array per read (most of them short, and the last of each
    /// receive empty) cost more than the read. Only the broker's loop thread
    /// reads sockets, and the bytes are copied out before the next read.
    nonisolated(unsafe) private static let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)

    /// Reads what is there: nil when nothing is (or on error, noted in readError),
    /// empty at end of stream.
    private func readSome(_ h: Handle) -> [UInt8]? {
        if let tls {
            var buf = [UInt8](repeating: 0, count: NetSocket.readSize)
            switch tls.read(into: &buf) {
            case .done(let n): buf.removeSubrange(n...); return buf
            case .wait(let events): readWaitsFor = events; return nil
            case .eof: return []
            case .failed: readError = EPROTO; return []
            }
        }
        readWaitsFor = .read
        let scratch = NetSocket.scratch
        let n = Glibc.recv(h.raw, scratch.baseAddress, isUDP ? scratch.count : NetSocket.readSize, 0)
        if n >= 0 { return Array(scratch[..<n]) }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
        if errno == ECONNRESET { return [] }
        readError = errno
        return []
    }

    /// Writes what the socket takes now.
    private func writeSome(_ h: Handle, _ data: ArraySlice<UInt8>) -> TLSSession.Step {
        if let tls { return tls.write(data) }
        do { return try h.fd.write(data).map { .done($0) } ?? .wait(.write) } catch { return .failed }
    }

    private func connected(_ h: Handle, tls useTLS: Bool, _ reply: @escaping Reply) {
        // A failed handshake closes the socket: nil, "ERROR" (what nmap answers
        // for a plain-text peer).
        if useTLS { return handshake(h, reply) { [self] in failConnect(reply, EPROTO) } }
        finish(reply, [.bool(true)])
    }

    /// Runs the TLS handshake under the timeout already armed.
    private func handshake(_ h: Handle, _ reply: @escaping Reply, failed: @escaping () -> Void) {
        guard let session = TLSSession(fd: h.raw, serverName: serverName, reactor: reactor) else {
            return failed()
        }
        tls = session
        session.handshake { [weak self] ok in
            guard let self, self.tls === session else { return }
            if ok { self.finish(reply, [.bool(true)]) } else { failed() }
        }
    }

    private func failConnect(_ reply: @escaping Reply, _ e: Int32) {
        closeNow()
        finish(reply, [.none, e == ETIMEDOUT ? "TIMEOUT" : "ERROR"])
    }

    /// Bounds the running operation by the socket's timeout (-1: none, as in
    /// nmap), calling `fire` when it passes. Every send and receive has one,
    /// and most end long before it: the reactor's timer is left in place when
    /// an operation ends and serves the next ones, which only move the
    /// deadline. It is re-armed when it fires before a later deadline, and
    /// replaced when a shorter timeout needs it sooner.
    private func armTimeout(_ fire: @escaping () -> Void) {
        guard timeoutMs >= 0 else { deadline = nil; return }
        let at = Reactor.now() + Double(timeoutMs) / 1000
        deadline = (at, fire)
        if let t = timer, t.at <= at { return }
        startTimer(at)
    }

    private func startTimer(_ at: Double) {
        reactor.cancel(timer?.id)
        let id = reactor.after(at - Reactor.now()) { [weak self] in self?.timerFired() }
        timer = (id, at)
    }

    private func timerFired() {
        timer = nil
        guard let d = deadline else { return }
        if Reactor.now() < d.at { return startTimer(d.at) }
        deadline = nil
        if let h = handle { reactor.unwatch(h.raw) }
        d.fire()
    }

    private func enqueue(_ op: @escaping () -> Void) {
        if busy { queued.append(op); return }
        busy = true
        op()
    }

    /// Answers the current operation once and starts the next queued one.
    private func finish(_ reply: Reply, _ values: [Value]) {
        deadline = nil
        if let h = handle { reactor.unwatch(h.raw) }
        reply(values)
        busy = false
        if !queued.isEmpty { enqueue(queued.removeFirst()) }
    }
}
