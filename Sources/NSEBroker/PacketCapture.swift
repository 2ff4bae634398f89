import CPcap
import Glibc
import NSEWire

/// One libpcap handle the broker holds, shared by every script socket that opened
/// a capture with the same device, snapshot length, promiscuity and filter (as
/// nsock shares them). The reactor watches its selectable descriptor; each packet
/// goes to the queue of every socket on the handle.
final class PcapHandle {
    let key: String
    private let pcap: OpaquePointer
    private let fd: Int32
    /// Bytes of link-layer header before the IP packet, by the handle's link type.
    private let linkHeader: Int
    private unowned let reactor: Reactor
    var readers: [ObjectIdentifier: CaptureSocket] = [:]

    /// Opens and activates the handle, or says why not (libpcap's words).
    static func open(device: String, snaplen: Int, promisc: Bool, filter: String, reactor: Reactor) -> Result<PcapHandle, CaptureError> {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        guard let p = pcap_create(device, &errbuf) else { return .failure(CaptureError(String(cString: errbuf))) }
        func fail(_ what: String) -> Result<PcapHandle, CaptureError> {
            let message = what + ": " + String(cString: pcap_geterr(p))
            pcap_close(p)
            return .failure(CaptureError(message))
        }
        _ = pcap_set_snaplen(p, Int32(clamping: max(1, min(snaplen, 262_144))))
        _ = pcap_set_promisc(p, promisc ? 1 : 0)
        _ = pcap_set_immediate_mode(p, 1)
        let activated = pcap_activate(p)
        guard activated >= 0 else {
            let message = activated == PCAP_ERROR_PERM_DENIED ? "permission denied (capturing needs root)"
                : String(cString: pcap_statustostr(activated)) + " " + String(cString: pcap_geterr(p))
            pcap_close(p)
            return .failure(CaptureError(message))
        }
        var program = bpf_program()
        guard pcap_compile(p, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else { return fail("bad BPF filter '\(filter)'") }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(p, &program) == 0 else { return fail("pcap_setfilter") }
        guard pcap_setnonblock(p, 1, &errbuf) == 0 else { return fail("pcap_setnonblock") }
        let fd = pcap_get_selectable_fd(p)
        guard fd >= 0 else { return fail("no selectable descriptor") }
        let header: Int
        switch pcap_datalink(p) {
        case DLT_EN10MB: header = 14
        case DLT_NULL, DLT_LOOP: header = 4
        case DLT_RAW, 101: header = 0
        case DLT_LINUX_SLL: header = 16
        case 276: header = 20 // DLT_LINUX_SLL2
        default: header = 0
        }
        let h = PcapHandle(key: "\(device)|\(snaplen)|\(promisc)|\(filter)", pcap: p, fd: fd, linkHeader: header, reactor: reactor)
        reactor.watch(fd, .read) { [weak h] _, _, _ in h?.drain() }
        return .success(h)
    }

    private init(key: String, pcap: OpaquePointer, fd: Int32, linkHeader: Int, reactor: Reactor) {
        self.key = key; self.pcap = pcap; self.fd = fd; self.linkHeader = linkHeader; self.reactor = reactor
    }

    deinit {
        reactor.unwatch(fd)
        pcap_close(pcap)
    }

    /// Reads every packet waiting and hands each to the readers.
    private func drain() {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        for _ in 0..<4096 {
            guard pcap_next_ex(pcap, &header, &data) == 1, let header, let data else { return }
            let caught = Int(header.pointee.caplen)
            let bytes = Array(UnsafeBufferPointer(start: data, count: caught))
            let split = min(linkHeader, caught)
            let packet = CapturedPacket(length: Int(header.pointee.len), layer2: Array(bytes[..<split]),
                                        layer3: Array(bytes[split...]),
                                        time: Double(header.pointee.ts.tv_sec) + Double(header.pointee.ts.tv_usec) / 1e6)
            for r in readers.values { r.deliver(packet) }
        }
    }
}

struct CaptureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

struct CapturedPacket {
    var length: Int
    var layer2: [UInt8]
    var layer3: [UInt8]
    var time: Double
}

/// A script socket that is a capture: packets queue here (at most `limit`, the
/// oldest dropped) until the script asks for one; a receive waits at most the
/// socket's timeout and then answers nil, "TIMEOUT", as nsock does.
final class CaptureSocket {
    static let limit = 4096
    let id: Int64
    var timeoutMs = 30_000
    let handle: PcapHandle
    private unowned let reactor: Reactor
    private var queue: [CapturedPacket] = []
    /// Receives waiting for a packet, oldest first (a script's threads may share
    /// the socket), each with its timeout's timer.
    private var waiting: [(id: Int, reply: ([Value]) -> Void, timer: Int?)] = []
    private var nextWaiter = 0
    /// Sees each packet as it is handed to the script (the audit log).
    var onDeliver: (CapturedPacket) -> Void = { _ in }

    init(id: Int64, handle: PcapHandle, reactor: Reactor) {
        self.id = id; self.handle = handle; self.reactor = reactor
        handle.readers[ObjectIdentifier(self)] = self
    }

    func deliver(_ p: CapturedPacket) {
        if !waiting.isEmpty {
            let w = waiting.removeFirst()
            reactor.cancel(w.timer)
            hand(p, w.reply)
            return
        }
        if queue.count >= Self.limit { queue.removeFirst() }
        queue.append(p)
    }

    func receive(reply: @escaping ([Value]) -> Void) {
        if !queue.isEmpty && waiting.isEmpty { return hand(queue.removeFirst(), reply) }
        nextWaiter += 1
        let id = nextWaiter
        var timer: Int?
        if timeoutMs >= 0 {
            timer = reactor.after(Double(timeoutMs) / 1000) { [weak self] in
                guard let self, let i = self.waiting.firstIndex(where: { $0.id == id }) else { return }
                self.waiting.remove(at: i).reply([.none, .string("TIMEOUT")])
            }
        }
        waiting.append((id, reply, timer))
    }

    private func hand(_ p: CapturedPacket, _ reply: ([Value]) -> Void) {
        onDeliver(p)
        reply([.bool(true), .int(Int64(p.length)), .bytes(p.layer2), .bytes(p.layer3), .double(p.time)])
    }

    /// Leaves the handle; a pending receive is dropped unanswered (the child is gone
    /// or closed the socket).
    func close() {
        for w in waiting { reactor.cancel(w.timer) }
        waiting = []
        handle.readers[ObjectIdentifier(self)] = nil
    }
}
