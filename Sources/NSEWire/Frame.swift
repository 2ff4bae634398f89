/// One message: a 4-byte big-endian body length, then the body:
/// op (1 byte), request id (4 bytes BE), then zero or more values.
public struct Frame: Equatable, Sendable {
    /// The op number: a request's `Op.rawValue`, or `Op.reply(to:)` for a reply.
    public var op: UInt8
    /// Pairs a reply with its request; 0 for messages that get no reply.
    public var requestID: UInt32
    public var values: [Value]

    public init(op: UInt8, requestID: UInt32 = 0, values: [Value] = []) {
        self.op = op; self.requestID = requestID; self.values = values
    }
    public init(_ op: Op, requestID: UInt32 = 0, _ values: [Value] = []) {
        self.init(op: op.rawValue, requestID: requestID, values: values)
    }
    /// A reply to `op` carrying `values`.
    public static func reply(to op: Op, requestID: UInt32, _ values: [Value]) -> Frame {
        Frame(op: Op.reply(to: op), requestID: requestID, values: values)
    }

    public var isReply: Bool { op & 0x80 != 0 }
    /// The request op, or the op a reply answers.
    public var request: Op? { Op(rawValue: op & 0x7f) }

    /// The frame's bytes, length prefix included.
    public func encoded() -> [UInt8] {
        var body: [UInt8] = [op]
        body.appendBigEndian(requestID)
        for v in values { v.encode(into: &body) }
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 4)
        out.appendBigEndian(UInt32(body.count))
        out.append(contentsOf: body)
        return out
    }

    /// Checks the values against the request's argument list.
    public func validateArguments() throws {
        guard let op = request else { throw WireError(.unknownOperation, "\(self.op)") }
        if isReply { return }
        let kinds = op.arguments
        guard values.count == kinds.count, zip(kinds, values).allSatisfy({ $0.accepts($1) }) else {
            throw WireError(.schemaMismatch, "\(op)")
        }
    }
}

/// Turns a byte stream into frames. Bytes may arrive in any split; the length is
/// checked against the limit before the body is buffered in full.
public struct FrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public let maxBody: Int

    public init(maxBody: Int = WireLimits.maxFrameBody) { self.maxBody = maxBody }

    /// Bytes received but not yet part of a whole frame.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil when more bytes are needed.
    /// Throws on a frame that is too large, malformed, or names an unknown op.
    public mutating func next() throws -> Frame? {
        guard bufferedCount >= WireLimits.lengthPrefix else { return nil }
        var length = 0
        for i in 0..<4 { length = length << 8 | Int(buffer[start + i]) }
        guard length <= maxBody else { throw WireError(.frameTooLarge, "\(length) bytes") }
        guard length >= 5 else { throw WireError(.frameTooSmall, "\(length) bytes") }
        guard bufferedCount >= 4 + length else { return nil }
        let bodyStart = start + 4
        let body = buffer[bodyStart..<bodyStart + length]
        start = bodyStart + length
        defer { compact() }
        let op = body[body.startIndex]
        guard Op(rawValue: op & 0x7f) != nil else { throw WireError(.unknownOperation, "\(op)") }
        var reader = ValueReader(body.dropFirst(5))
        var id: UInt32 = 0
        for i in 1...4 { id = id << 8 | UInt32(body[body.startIndex + i]) }
        var values: [Value] = []
        while !reader.atEnd { values.append(try reader.value()) }
        return Frame(op: op, requestID: id, values: values)
    }

    /// Call when the stream ends: throws if it ended inside a frame.
    public func finish() throws {
        if bufferedCount > 0 { throw WireError(.truncatedFrame, "\(bufferedCount) bytes left") }
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 16)
            start = 0
        } else if start > 1 << 16 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
