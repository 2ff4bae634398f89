import NSESystem
import NSEWire
import Glibc

/// The child's end of the RPC socket (fd 3). Blocking: the child has nothing else to
/// do while all of its script threads wait. Replies that arrive while a synchronous
/// call waits for its own are queued for the scheduler.
///
/// One-way messages whose effect other processes could only see once this one
/// yields under nmap (a timeout, a registry or mutex given back, a close, a port's
/// state) are held and written with the next request, or before the child waits
/// for a reply, whichever comes first: one write, and one wake-up of the broker,
/// instead of one each. Any other message (log, result) goes out at once, after
/// those held before it.
final class RPCClient {
    let fd: FileDescriptor
    // Unchecked, as the broker's loop state is (Reactor): the child's one
    // thread, and no method here calls out while it holds these.
    @exclusivity(unchecked) private var decoder = FrameDecoder()
    @exclusivity(unchecked) private var nextID: UInt32 = 1
    private var queued: [Frame] = []
    /// Whether a read waits in poll(2) first (`FileDescriptor.waitReadable`): a
    /// wake-up less per request, where the policy allows poll. Else read(2) blocks.
    var waitsInPoll = false
    /// Microseconds a read tries again without sleeping before it waits
    /// (`spinForFrame`): set from the job, which the broker gives a spin only when
    /// the instance runs alone and a core is free for the broker.
    var spinMicros = 0
    /// Whether the policy lets this process recv(2) without blocking on fd 3
    /// (the spin's reads); without it there is no spin.
    var mayReadNow = false

    init(fd: consuming FileDescriptor) { self.fd = fd }

    /// Sends a request that expects a reply and returns its id.
    func request(_ op: Op, _ values: [Value]) throws -> UInt32 {
        let id = nextID
        nextID = nextID == UInt32.max ? 1 : nextID + 1
        Frame(op, requestID: id, values).encode(into: &held)
        try flush()
        return id
    }

    /// Sends a message that gets no reply (held, for the ops in `holdable`).
    func notify(_ op: Op, _ values: [Value]) throws {
        Frame(op, values).encode(into: &held)
        if !RPCClient.holdable.contains(op) { try flush() }
    }

    /// The one-way messages that wait for the next request or wait.
    static let holdable: Set<Op> = [.setTimeout, .registryRelease, .mutexUnlock, .closeAnswered, .setPortState, .setPortVersion]

    /// Frames not written yet, in order.
    @exclusivity(unchecked) private var held: [UInt8] = []

    /// Writes what is held.
    func flush() throws {
        guard !held.isEmpty else { return }
        try fd.writeAll(held)
        held.removeAll(keepingCapacity: true)
    }

    /// Sends a request and blocks until its own reply arrives; the reply's
    /// values are left encoded (valid until the next read).
    func callRaw(_ op: Op, _ values: [Value]) throws -> RawFrame {
        let id = try request(op, values)
        while true {
            let frame = try readRawFrame()
            if frame.isReply && frame.requestID == id { return frame }
            queued.append(try frame.decoded())
        }
    }

    /// The next reply for any outstanding request, queued ones first (decoded),
    /// else the next read (encoded, valid until the next read).
    func nextReply() throws -> Reply {
        if !queued.isEmpty { return .decoded(queued.removeFirst()) }
        return .raw(try readRawFrame())
    }
    enum Reply { case decoded(Frame), raw(RawFrame) }

    /// Bytes read and not yet taken as frames (the zygote's loop reads its
    /// socket itself, and must find none left here).
    var bufferedBytes: Int { decoder.bufferedCount }

    /// In a newly forked instance, fd 3 is the instance's own socket now: what
    /// the zygote had read or asked on its socket is not the instance's.
    func restart() {
        decoder = FrameDecoder()
        held = []
        queued = []
        nextID = 1
    }

    /// Reads without blocking until bytes come or `spinMicros` pass; true when
    /// some came. A reply the broker sends within microseconds then costs no
    /// sleep and no wake-up, which across two CPUs of a virtual machine is most
    /// of a round trip (docs/performance.md).
    private func spinForFrame() throws -> Bool {
        func micros() -> Int {
            var t = timespec()
            clock_gettime(CLOCK_MONOTONIC, &t)
            return t.tv_sec * 1_000_000 + t.tv_nsec / 1000
        }
        let deadline = micros() + spinMicros
        repeat {
            if let n = try decoder.fill({ try fd.readNow(into: $0) }) {
                guard n > 0 else { throw WireError(.truncatedFrame, "broker closed the connection") }
                return true
            }
        } while micros() < deadline
        return false
    }

    /// Reads one whole frame, blocking.
    func readFrame() throws -> Frame {
        try readRawFrame().decoded()
    }

    /// Reads one whole frame, its values left encoded, blocking.
    func readRawFrame() throws -> RawFrame {
        while true {
            if let f = try decoder.nextRaw() { return f }
            try flush()
            if spinMicros > 0, mayReadNow, try spinForFrame() { continue }
            if waitsInPoll { try fd.waitReadable() }
            guard let count = try decoder.fill({ try fd.read(into: $0) }), count > 0 else {
                throw WireError(.truncatedFrame, "broker closed the connection")
            }
        }
    }
}
