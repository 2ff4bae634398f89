import Glibc
import NSESystem
import NSEWire

/// A network socket a script asked for, owned by the broker. Operations run one at a
/// time in the order the script issued them, each bounded by the socket's timeout,
/// and answer with nmap's return conventions: `true[, data]`, or `nil, "TIMEOUT" |
/// "EOF" | error text`.
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
    private var timer: Int?
    /// Called with every byte sent and received (the audit hook).
    var onTraffic: ((_ sent: Bool, _ bytes: ArraySlice<UInt8>) -> Void)?

    init(id: Int64, reactor: Reactor) { self.id = id; self.reactor = reactor }

    var isOpen: Bool { handle != nil }
    var isBusy: Bool { busy }

    deinit { closeNow() }

    // MARK: operations

    func connect(to address: SocketAddress, udp: Bool, reply: @escaping Reply) {
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
            let r = address.withSockaddr { Glibc.connect(h.raw, $0, $1) }
            if r == 0 { return connected(reply) }
            guard errno == EINPROGRESS else { return failConnect(reply, errno) }
            armTimeout { [self] in failConnect(reply, ETIMEDOUT) }
            reactor.watch(h.raw, .write) { [self] _, _, _ in
                reactor.unwatch(h.raw)
                var err: Int32 = 0
                var len = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(h.raw, SOL_SOCKET, SO_ERROR, &err, &len)
                if err == 0 { connected(reply) } else { failConnect(reply, err) }
            }
        }
    }

    func send(_ data: [UInt8], reply: @escaping Reply) {
        enqueue { [self] in
            guard let h = handle else { return finish(reply, [.none, .string("ERROR")]) }
            var offset = 0
            func pump() {
                while offset < data.count {
                    let n: Int? = try? h.fd.write(data[offset...])
                    if let n {
                        onTraffic?(true, data[offset..<offset + n])
                        offset += n
                        continue
                    }
                    if errno == EAGAIN || errno == EWOULDBLOCK {
                        reactor.watch(h.raw, .write) { _, _, _ in pump() }
                        return
                    }
                    return finish(reply, [.none, "ERROR"])
                }
                finish(reply, [.bool(true)])
            }
            armTimeout { [self] in finish(reply, [.none, .string("TIMEOUT")]) }
            pump()
        }
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
            func pump() {
                while !satisfied() && !atEOF && inbound.count < WireLimits.maxReceiveChunk {
                    guard let chunk = readSome(h) else {
                        reactor.watch(h.raw, .read) { _, _, _ in pump() }
                        return
                    }
                    if chunk.isEmpty { atEOF = true; break }
                    onTraffic?(false, chunk[...])
                    inbound.append(contentsOf: chunk)
                    if isUDP { break }
                }
                if readError != nil { readError = nil; return finish(reply, [.none, "ERROR"]) }
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
        reactor.cancel(timer)
        timer = nil
        if let h = handle { reactor.unwatch(h.raw) }
        handle = nil
    }

    // MARK: plumbing

    private var readError: Int32?

    /// Reads what is there: nil when nothing is (or on error, noted in readError),
    /// empty at end of stream.
    private func readSome(_ h: Handle) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { Glibc.recv(h.raw, $0.baseAddress, $0.count, 0) }
        if n >= 0 { buf.removeSubrange(n...); return buf }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
        if errno == ECONNRESET { return [] }
        readError = errno
        return []
    }

    private func connected(_ reply: @escaping Reply) {
        finish(reply, [.bool(true)])
    }

    private func failConnect(_ reply: @escaping Reply, _ e: Int32) {
        closeNow()
        finish(reply, [.none, e == ETIMEDOUT ? "TIMEOUT" : "ERROR"])
    }

    /// Arms the socket's timeout for the current operation; -1 means none, as in nmap.
    private func armTimeout(_ fire: @escaping () -> Void) {
        reactor.cancel(timer)
        guard timeoutMs >= 0 else { timer = nil; return }
        timer = reactor.after(Double(timeoutMs) / 1000) { [weak self] in
            guard let self else { return }
            self.timer = nil
            if let h = self.handle { self.reactor.unwatch(h.raw) }
            fire()
        }
    }

    private func enqueue(_ op: @escaping () -> Void) {
        if busy { queued.append(op); return }
        busy = true
        op()
    }

    /// Answers the current operation once and starts the next queued one.
    private func finish(_ reply: Reply, _ values: [Value]) {
        reactor.cancel(timer)
        timer = nil
        if let h = handle { reactor.unwatch(h.raw) }
        reply(values)
        busy = false
        if !queued.isEmpty { enqueue(queued.removeFirst()) }
    }
}
