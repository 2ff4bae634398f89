import Glibc
import NSEBroker
import NSEScan

/// What the connect scan found for one port.
public struct PortResult: Sendable {
    public var port: Int
    public var proto: PortProtocol
    /// "open", "closed" or "filtered".
    public var state: String
    /// nmap's reason for the state: "syn-ack", "conn-refused", "no-response", ...
    public var reason: String
}

/// A non-blocking TCP connect scan on the broker's reactor, like nmap's -sT:
/// a completed handshake is open (syn-ack), a refusal closed (conn-refused),
/// silence until the timeout filtered (no-response).
final class PortProbe {
    private let reactor: Reactor
    private let parallelism: Int
    private let timeout: Double
    private var queue: [(host: String, port: Int)] = []
    private var udpQueue: [(host: String, port: Int)] = []
    private var payloads = UDPPayloads()
    private var running = 0
    private(set) var results: [String: [PortResult]] = [:]
    private(set) var rtts: [String: [Double]] = [:]

    init(reactor: Reactor, parallelism: Int = 256, timeout: Double = 1.5) {
        self.reactor = reactor; self.parallelism = parallelism; self.timeout = timeout
    }

    /// Scans every (host, port) pair and returns when all are answered.
    func scan(hosts: [String], ports: [Int]) {
        for h in hosts { for p in ports { queue.append((h, p)) } }
        queue.reverse()
        startMore()
        reactor.run(until: { running == 0 && queue.isEmpty })
    }

    /// Scans UDP ports as nmap's -sU does, through connected UDP sockets: a reply is
    /// open (udp-response), an ICMP port unreachable closed (port-unreach), silence
    /// after a retry open|filtered (no-response). Each port gets nmap's payloads.
    func scanUDP(hosts: [String], ports: [Int], payloads: UDPPayloads) {
        self.payloads = payloads
        for h in hosts { for p in ports { udpQueue.append((h, p)) } }
        udpQueue.reverse()
        startMore()
        reactor.run(until: { running == 0 && udpQueue.isEmpty && queue.isEmpty })
    }

    private func startMore() {
        while running < parallelism, let next = queue.popLast() {
            running += 1
            probe(next.host, next.port)
        }
        while running < parallelism, let next = udpQueue.popLast() {
            running += 1
            probeUDP(next.host, next.port)
        }
    }

    private func probeUDP(_ host: String, _ port: Int) {
        guard let address = SocketAddress(ip: host, port: port) else {
            return record(host, port, "open|filtered", "no-response", started: nil, proto: .udp)
        }
        let fd = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0, address.withSockaddr({ connect(fd, $0, $1) }) == 0 else {
            if fd >= 0 { close(fd) }
            return record(host, port, "open|filtered", "no-response", started: nil, proto: .udp)
        }
        let datagrams = payloads.payloads(for: port)
        let started = Reactor.now()
        var attempts = 1
        var timer: Int?
        var finished = false
        func finish(_ state: String, _ reason: String, _ rtt: Bool) {
            guard !finished else { return }
            finished = true
            reactor.unwatch(fd)
            reactor.cancel(timer)
            close(fd)
            record(host, port, state, reason, started: rtt ? started : nil, proto: .udp)
        }
        /// A port unreachable for an earlier datagram surfaces as the error of a
        /// later send: that is a closed port too.
        func sendAll() {
            for d in datagrams.isEmpty ? [[]] : datagrams {
                let r = d.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                if r < 0 && errno == ECONNREFUSED { return finish("closed", "port-unreach", true) }
            }
        }
        func arm() {
            timer = reactor.after(timeout) {
                if attempts < 2 { attempts += 1; sendAll(); if !finished { arm() } } else { finish("open|filtered", "no-response", false) }
            }
        }
        reactor.watch(fd, .read) { _, _, _ in
            var buf = [UInt8](repeating: 0, count: 2048)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { finish("open", "udp-response", true) }
            else if errno == ECONNREFUSED { finish("closed", "port-unreach", true) }
            else if errno != EAGAIN && errno != EINTR { finish("open|filtered", "no-response", false) }
        }
        sendAll()
        if !finished { arm() }
    }

    private func record(_ host: String, _ port: Int, _ state: String, _ reason: String, started: Double?,
                        proto: PortProtocol = .tcp) {
        results[host, default: []].append(PortResult(port: port, proto: proto, state: state, reason: reason))
        if let started { rtts[host, default: []].append(Reactor.now() - started) }
        running -= 1
        startMore()
    }

    private func probe(_ host: String, _ port: Int) {
        guard let address = SocketAddress(ip: host, port: port) else {
            return record(host, port, "filtered", "no-response", started: nil)
        }
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return record(host, port, "filtered", "no-response", started: nil) }
        let started = Reactor.now()
        let r = address.withSockaddr { connect(fd, $0, $1) }
        if r == 0 { close(fd); return record(host, port, "open", "syn-ack", started: started) }
        if errno != EINPROGRESS {
            let e = errno
            close(fd)
            return finishWithError(host, port, e, started)
        }
        var timer: Int?
        timer = reactor.after(timeout) { [self] in
            reactor.unwatch(fd)
            close(fd)
            record(host, port, "filtered", "no-response", started: nil)
        }
        reactor.watch(fd, .write) { [self] _, _, _ in
            reactor.unwatch(fd)
            reactor.cancel(timer)
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            close(fd)
            if err == 0 { record(host, port, "open", "syn-ack", started: started) }
            else { finishWithError(host, port, err, started) }
        }
    }

    private func finishWithError(_ host: String, _ port: Int, _ e: Int32, _ started: Double) {
        switch e {
        case ECONNREFUSED: record(host, port, "closed", "conn-refused", started: started)
        case EHOSTUNREACH: record(host, port, "filtered", "host-unreach", started: nil)
        case ENETUNREACH: record(host, port, "filtered", "net-unreach", started: nil)
        default: record(host, port, "filtered", "no-response", started: nil)
        }
    }
}
