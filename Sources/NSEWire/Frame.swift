import Glibc

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
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    /// Appends the frame's bytes, length prefix included (the length is written
    /// once the body is: one buffer, no copy).
    public func encode(into out: inout [UInt8]) {
        let at = out.appendFrameHead(op: op, requestID: requestID)
        for v in values { v.encode(into: &out) }
        out.patchLength(at: at)
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
    /// Bytes `start..<end` are received and not yet decoded; the rest is room that
    /// `fill` reads into, so a read neither allocates nor copies.
    private var buffer: [UInt8] = []
    private var start = 0
    private var end = 0
    public let maxBody: Int

    public init(maxBody: Int = WireLimits.maxFrameBody) { self.maxBody = maxBody }

    /// Bytes received but not yet part of a whole frame.
    public var bufferedCount: Int { end - start }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        makeRoom(bytes.count)
        buffer.replaceSubrange(end..<(end + bytes.count), with: bytes)
        end += bytes.count
    }

    /// Reads into the buffer's free room: `read` gets at least 4 KiB (more when
    /// the frame under way needs it) and returns how many bytes it put there,
    /// nil if none were there (it would block), 0 at end of stream.
    public mutating func fill(_ read: (UnsafeMutableRawBufferPointer) throws -> Int?) rethrows -> Int? {
        var wanted = 4096
        if bufferedCount >= WireLimits.lengthPrefix {
            let length = (0..<4).reduce(0) { $0 << 8 | Int(buffer[start + $1]) }
            if length <= maxBody { wanted = max(wanted, min(4 + length - bufferedCount, 1 << 20)) }
        }
        makeRoom(wanted)
        let at = end
        let n = try buffer.withUnsafeMutableBytes { try read(UnsafeMutableRawBufferPointer(rebasing: $0[at...])) }
        if let n { end += n }
        return n
    }

    /// The next whole frame, or nil when more bytes are needed.
    /// Throws on a frame that is too large, malformed, or names an unknown op.
    public mutating func next() throws -> Frame? {
        try nextRaw()?.decoded()
    }

    /// The next whole frame with its values still encoded (`RawFrame`), or nil
    /// when more bytes are needed. Throws as `next` does, but on a malformed
    /// value only when the values are read.
    public mutating func nextRaw() throws -> RawFrame? {
        guard bufferedCount >= WireLimits.lengthPrefix else { return nil }
        let at = start
        let length = Int(buffer.withUnsafeBytes { UInt32(bigEndian: $0.loadUnaligned(fromByteOffset: at, as: UInt32.self)) })
        guard length <= maxBody else { throw WireError(.frameTooLarge, "\(length) bytes") }
        guard length >= 5 else { throw WireError(.frameTooSmall, "\(length) bytes") }
        guard bufferedCount >= 4 + length else { return nil }
        let (op, id) = buffer.withUnsafeBytes { p in
            (p[at + 4], UInt32(bigEndian: p.loadUnaligned(fromByteOffset: at + 5, as: UInt32.self)))
        }
        guard Op(rawValue: op & 0x7f) != nil else { throw WireError(.unknownOperation, "\(op)") }
        start = at + 4 + length
        let values = buffer[(at + 9)..<start]
        if start == end { start = 0; end = 0; if buffer.count > 1 << 16 { buffer = [] } }
        return RawFrame(op: op, requestID: id, values: values)
    }

    /// At least `count` bytes of room after `end`: the undecoded bytes move to
    /// the front, and the buffer grows only when that is not enough.
    private mutating func makeRoom(_ count: Int) {
        if buffer.count - end >= count { return }
        if start > 0 {
            buffer.withUnsafeMutableBytes { p in
                p.baseAddress!.copyMemory(from: p.baseAddress! + start, byteCount: end - start)
            }
            end -= start
            start = 0
            if buffer.count - end >= count { return }
        }
        buffer += [UInt8](repeating: 0, count: max(end + count, 2 * buffer.count) - buffer.count)
    }

    /// Call when the stream ends: throws if it ended inside a frame.
    public func finish() throws {
        if bufferedCount > 0 { throw WireError(.truncatedFrame, "\(bufferedCount) bytes left") }
    }

}

/// Whether `a` holds the same bytes as `b`: how both ends recognise a message's
/// values sent again (the broker's repeated port-table request, the child's
/// repeated reply), compared where they lie.
@inlinable
public func sameBytes(_ a: [UInt8], _ b: ArraySlice<UInt8>) -> Bool {
    guard a.count == b.count else { return false }
    return a.isEmpty || a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
}

/// A value encoded once, to be sent in many replies (a port table).
public struct EncodedValue: Sendable {
    public let bytes: [UInt8]
    public init(_ value: Value) {
        var bytes: [UInt8] = []
        value.encode(into: &bytes)
        self.bytes = bytes
    }
}

extension Frame {
    /// Appends a reply to `op` carrying one value (no array of them to make).
    public static func encodeReply(to op: Op, requestID: UInt32, _ value: Value, into out: inout [UInt8]) {
        let at = out.appendFrameHead(op: Op.reply(to: op), requestID: requestID)
        value.encode(into: &out)
        out.patchLength(at: at)
    }

    /// Appends a reply to `op` whose one value is already encoded.
    public static func encodeReply(to op: Op, requestID: UInt32, _ value: EncodedValue, into out: inout [UInt8]) {
        _ = out.appendFrameHead(op: Op.reply(to: op), requestID: requestID, length: UInt32(5 + value.bytes.count))
        out.append(contentsOf: value.bytes)
    }
}

/// A frame whose values are still in their encoding: the child pushes a reply's
/// values onto its Lua stack straight from these bytes (`ValueScanner`), with no
/// `Value` in between. It shares the decoder's buffer: keep it only until the
/// next read.
public struct RawFrame: Sendable {
    public let op: UInt8
    public let requestID: UInt32
    /// The encoded values.
    public let values: ArraySlice<UInt8>

    public var isReply: Bool { op & 0x80 != 0 }

    /// The frame with its values decoded.
    public func decoded() throws -> Frame {
        let decoded = try ValueScanner.scan(values) { scanner in
            var decoded: [Value] = []
            // Most frames carry one to four values: one allocation, not one per doubling.
            if !scanner.atEnd { decoded.reserveCapacity(4) }
            while !scanner.atEnd { decoded.append(try scanner.value()) }
            return decoded
        }
        return Frame(op: op, requestID: requestID, values: decoded)
    }
}

/// Walks encoded values one item at a time, checking every length against
/// what is left before anything is allocated: a table is announced with its
/// entry count, then its keys and values follow. It reads the bytes where they
/// lie: `scan` makes one for the length of a closure, and a string item points
/// into those bytes (copy it to keep it). `value` decodes a whole value.
public struct ValueScanner {
    public enum Item {
        case none, bool(Bool), int(Int64), double(Double)
        case bytes(UnsafeRawBufferPointer)
        case table(count: Int)
    }

    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    @usableFromInline init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Runs `body` with a scanner over `values`. Inlinable, so that a caller in
    /// another module gets it specialized: unspecialized, it and the slice's
    /// withUnsafeBytes took type metadata at every reply the child pushed.
    @inlinable
    public static func scan<R>(_ values: ArraySlice<UInt8>, _ body: (inout ValueScanner) throws -> R) rethrows -> R {
        try values.withUnsafeBytes { p in
            var scanner = ValueScanner(p)
            return try body(&scanner)
        }
    }

    public var atEnd: Bool { position >= bytes.count }
    private var remaining: Int { bytes.count - position }

    private mutating func u32() throws -> UInt32 {
        guard remaining >= 4 else { throw WireError(.truncatedValue) }
        defer { position += 4 }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    private mutating func u64() throws -> UInt64 {
        guard remaining >= 8 else { throw WireError(.truncatedValue) }
        defer { position += 8 }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    public mutating func next() throws -> Item {
        guard remaining >= 1 else { throw WireError(.truncatedValue) }
        let raw = bytes[position]
        position += 1
        guard let tag = ValueTag(rawValue: raw) else { throw WireError(.badValueTag, "\(raw)") }
        switch tag {
        case .none: return .none
        case .falseValue: return .bool(false)
        case .trueValue: return .bool(true)
        case .int: return .int(Int64(bitPattern: try u64()))
        case .double: return .double(Double(bitPattern: try u64()))
        case .bytes:
            let n = Int(try u32())
            guard n <= remaining else { throw WireError(.truncatedValue, "string of \(n) bytes") }
            defer { position += n }
            return .bytes(UnsafeRawBufferPointer(rebasing: bytes[position..<position + n]))
        case .table:
            let n = Int(try u32())
            guard n <= WireLimits.maxTableEntries else { throw WireError(.tooManyEntries) }
            guard n * 2 <= remaining else { throw WireError(.truncatedValue, "table of \(n) entries") }
            return .table(count: n)
        }
    }

    /// The next whole value, decoded (a table's entries and strings copied out).
    public mutating func value(depth: Int = 0) throws -> Value {
        guard depth <= WireLimits.maxDepth else { throw WireError(.tooDeep) }
        switch try next() {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bytes(let b): return .bytes(Array(b))
        case .table(let n):
            var entries: [TableEntry] = []
            entries.reserveCapacity(n)
            for _ in 0..<n {
                let k = try value(depth: depth + 1)
                entries.append(TableEntry(k, try value(depth: depth + 1)))
            }
            return .table(entries)
        }
    }
}
