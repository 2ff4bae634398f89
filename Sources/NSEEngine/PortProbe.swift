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

    private func startMore() {
        while running < parallelism, let next = queue.popLast() {
            running += 1
            probe(next.host, next.port)
        }
    }

    private func record(_ host: String, _ port: Int, _ state: String, _ reason: String, started: Double?) {
        results[host, default: []].append(PortResult(port: port, proto: .tcp, state: state, reason: reason))
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
