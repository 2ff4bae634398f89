import NSESystem
import NSEWire

/// The child's end of the RPC socket (fd 3). Blocking: the child has nothing else to
/// do while all of its script threads wait. Replies that arrive while a synchronous
/// call waits for its own are queued for the scheduler.
final class RPCClient {
    let fd: FileDescriptor
    private var decoder = FrameDecoder()
    private var nextID: UInt32 = 1
    private var queued: [Frame] = []
    /// Whether a read waits in poll(2) first (`FileDescriptor.waitReadable`): a
    /// wake-up less per request, where the policy allows poll. Else read(2) blocks.
    var waitsInPoll = false

    init(fd: consuming FileDescriptor) { self.fd = fd }

    /// Sends a request that expects a reply and returns its id.
    func request(_ op: Op, _ values: [Value]) throws -> UInt32 {
        let id = nextID
        nextID = nextID == UInt32.max ? 1 : nextID + 1
        try fd.writeAll(Frame(op, requestID: id, values).encoded())
        return id
    }

    /// Sends a message that gets no reply.
    func notify(_ op: Op, _ values: [Value]) throws {
        try fd.writeAll(Frame(op, values).encoded())
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

    // The zygote's reading (commands arrive with descriptors attached).

    /// A whole frame already read, if any.
    func bufferedFrame() throws -> Frame? { try decoder.next() }

    /// One recvmsg(2): its bytes are decoded later, its descriptors appended.
    func receiveOnce(descriptors: inout [Int32]) throws {
        let bytes = try fd.read(max: 4096, descriptors: &descriptors)  // the zygote's commands are small
        guard !bytes.isEmpty else { throw WireError(.truncatedFrame, "broker closed the connection") }
        decoder.feed(bytes)
    }

    /// In a newly forked instance, fd 3 is the instance's own socket now: what
    /// the zygote had read or asked on its socket is not the instance's.
    func restart() {
        decoder = FrameDecoder()
        queued = []
        nextID = 1
    }

    /// Reads one whole frame, blocking.
    func readFrame() throws -> Frame {
        try readRawFrame().decoded()
    }

    /// Reads one whole frame, its values left encoded, blocking.
    func readRawFrame() throws -> RawFrame {
        while true {
            if let f = try decoder.nextRaw() { return f }
            if waitsInPoll { try fd.waitReadable() }
            guard let count = try decoder.fill({ try fd.read(into: $0) }), count > 0 else {
                throw WireError(.truncatedFrame, "broker closed the connection")
            }
        }
    }
}
