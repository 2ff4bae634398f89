import Testing
import NSEWire

// MARK: - Helpers

/// A frame's raw bytes: a big-endian length prefix, then op, request id and `payload`
/// (already-encoded values, or deliberately broken bytes).
func rawFrame(op: UInt8, requestID: UInt32 = 0, payload: [UInt8]) -> [UInt8] {
    var body: [UInt8] = [op]
    body += bigEndian(requestID)
    body += payload
    return bigEndian(UInt32(body.count)) + body
}

func bigEndian(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)]
}

func encodedValue(_ v: Value) -> [UInt8] {
    var out: [UInt8] = []
    v.encode(into: &out)
    return out
}

/// Feeds `bytes` in one go and takes every whole frame out.
func decodeAll(_ bytes: [UInt8], maxBody: Int = WireLimits.maxFrameBody) throws -> [Frame] {
    var decoder = FrameDecoder(maxBody: maxBody)
    decoder.feed(bytes)
    var frames: [Frame] = []
    while let f = try decoder.next() { frames.append(f) }
    try decoder.finish()
    return frames
}

/// The WireError code `body` throws, or nil when it throws nothing (any other error fails the test).
func wireErrorCode(_ body: () throws -> Void) -> WireError.Code? {
    do {
        try body()
        return nil
    } catch let e as WireError {
        return e.code
    } catch {
        Issue.record("expected a WireError, got \(error)")
        return nil
    }
}

/// A table nesting a single integer `levels` tables deep: {[1] = {[1] = ... 7}}.
func nested(levels: Int) -> Value {
    var v: Value = .int(7)
    for _ in 0..<levels { v = .table([TableEntry(.int(1), v)]) }
    return v
}

/// Equality that also tells -0.0 from 0.0 and NaN payloads apart (Double == does not).
func bitwiseEqual(_ a: Value, _ b: Value) -> Bool {
    switch (a, b) {
    case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern
    case (.table(let xs), .table(let ys)):
        return xs.count == ys.count && zip(xs, ys).allSatisfy {
            bitwiseEqual($0.key, $1.key) && bitwiseEqual($0.value, $1.value)
        }
    default: return a == b
    }
}

// MARK: - Round trips

let sampleValues: [Value] = [
    .none,
    .bool(false), .bool(true),
    .int(0), .int(1), .int(-1), .int(Int64.min), .int(Int64.max),
    .double(0.0), .double(-0.0), .double(1.5), .double(-1e308),
    .double(.infinity), .double(-.infinity), .double(.nan),
    .double(.leastNonzeroMagnitude), .double(.greatestFiniteMagnitude),
    .bytes([]), .string("hello"), .bytes([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80]),  // not UTF-8
    .bytes(Array(repeating: 0xAB, count: 70_000)),
    .table([]),
    .array([1, "two", .double(3.0), .none, true]),
    .record(["host": "scanme.example", "port": 80, "opts": .record(["timeout": 5000, "ssl": false])]),
    .table([TableEntry(.bool(true), .int(1)), TableEntry(.double(2.5), .bytes([0xff])),
            TableEntry(.table([]), .table([TableEntry(.none, .none)]))]),
    nested(levels: 10),
]

@Test(arguments: sampleValues)
func everyValueKindSurvivesAFrameRoundTrip(_ value: Value) throws {
    let frame = Frame(.send, requestID: 0x0102_0304, [.int(5), value])
    let decoded = try decodeAll(frame.encoded())
    try #require(decoded.count == 1)
    #expect(decoded[0].op == Op.send.rawValue)
    #expect(decoded[0].requestID == 0x0102_0304)
    #expect(decoded[0].values.count == 2)
    #expect(bitwiseEqual(decoded[0].values[1], value))
    if !value.containsNaN { #expect(decoded[0] == frame) }
}

extension Value {
    var containsNaN: Bool {
        switch self {
        case .double(let d): return d.isNaN
        case .table(let es): return es.contains { $0.key.containsNaN || $0.value.containsNaN }
        default: return false
        }
    }
}

@Test func encodingOfEachValueKindMatchesTheDocumentedLayout() {
    #expect(encodedValue(.none) == [0])
    #expect(encodedValue(.bool(false)) == [1])
    #expect(encodedValue(.bool(true)) == [2])
    #expect(encodedValue(.int(Int64.min)) == [3, 0x80, 0, 0, 0, 0, 0, 0, 0])
    #expect(encodedValue(.int(-2)) == [3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe])
    #expect(encodedValue(.double(-0.0)) == [4, 0x80, 0, 0, 0, 0, 0, 0, 0])
    #expect(encodedValue(.double(.infinity)) == [4, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0])
    #expect(encodedValue(.bytes([])) == [5, 0, 0, 0, 0])
    #expect(encodedValue(.bytes([0xff])) == [5, 0, 0, 0, 1, 0xff])
    #expect(encodedValue(.table([TableEntry(.int(1), .none)])) == [6, 0, 0, 0, 1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0])
}

@Test func frameLayoutIsLengthThenOpThenRequestIDThenValues() {
    let bytes = Frame(.close, requestID: 0xAABB_CCDD, [.int(3)]).encoded()
    #expect(bytes == [0, 0, 0, 14, 13, 0xAA, 0xBB, 0xCC, 0xDD, 3, 0, 0, 0, 0, 0, 0, 0, 3])
}

@Test func replyFramesRoundTripWithTheHighBitSet() throws {
    let replies: [Frame] = [
        .reply(to: .connect, requestID: 0xFFFF_FFFF, [.int(0), .none]),
        .reply(to: .receive, requestID: 7, [.bytes([0, 1, 2]), .bool(true)]),
        .reply(to: .getInfo, requestID: 1, [.record(["lhost": "127.0.0.1", "lport": 40000])]),
        .reply(to: .sleep, requestID: 2, []),
    ]
    let decoded = try decodeAll(replies.flatMap { $0.encoded() })
    #expect(decoded == replies)
    for (frame, original) in zip(decoded, replies) {
        #expect(frame.isReply)
        #expect(frame.op & 0x80 != 0)
        #expect(frame.request == original.request)
    }
    #expect(decoded.map(\.request) == [.connect, .receive, .getInfo, .sleep])
}

@Test func requestFramesAreNotReplies() throws {
    let decoded = try decodeAll(Frame(.log, ["stdout", "text"]).encoded())
    #expect(decoded.count == 1)
    #expect(decoded.first?.isReply == false)
    #expect(decoded.first?.request == .log)
}

// MARK: - Streaming

let streamOfFrames: [Frame] = [
    Frame(.hello, requestID: 0, [.int(WireLimits.protocolVersion), "format 1\nname x\n"]),
    Frame(.connect, requestID: 1, [.int(1), "10.0.0.1", .int(443), "tcp"]),
    .reply(to: .connect, requestID: 1, [.int(0)]),
    Frame(.send, requestID: 2, [.int(1), .bytes([0x16, 0x03, 0x01, 0x00, 0xff])]),
    Frame(.result, requestID: 0, [.record(["status": "ok", "output": .bytes([]), "structured": .array([1, 2, 3])])]),
    Frame(.sleep, requestID: 3, [.int(0)]),
]

@Test func decoderFedOneByteAtATimeYieldsTheSameFrames() throws {
    let bytes = streamOfFrames.flatMap { $0.encoded() }
    var decoder = FrameDecoder()
    var frames: [Frame] = []
    for b in bytes {
        decoder.feed([b])
        while let f = try decoder.next() { frames.append(f) }
    }
    #expect(frames == streamOfFrames)
    #expect(decoder.bufferedCount == 0)
    try decoder.finish()
}

@Test(arguments: [2, 3, 5, 7, 13, 64, 1000])
func decoderYieldsTheSameFramesForAnyChunkSize(_ chunk: Int) throws {
    let bytes = streamOfFrames.flatMap { $0.encoded() }
    var decoder = FrameDecoder()
    var frames: [Frame] = []
    var i = 0
    while i < bytes.count {
        decoder.feed(bytes[i..<min(i + chunk, bytes.count)])
        i += chunk
        while let f = try decoder.next() { frames.append(f) }
    }
    #expect(frames == streamOfFrames)
    try decoder.finish()
}

/// `fill` reads straight into the decoder's buffer: whatever sizes the reads
/// come in (a reader that gives at most `chunk` bytes, and sometimes nothing),
/// the frames are the same, a frame larger than the buffer makes it grow, and
/// a frame never spans more reads than it must.
@Test(arguments: [1, 7, 100, 4096, 1 << 20])
func decoderFilledByReadsOfAnySizeYieldsTheSameFrames(_ chunk: Int) throws {
    let big = Frame(.send, requestID: 7, [.int(1), .bytes((0..<300_000).map { UInt8(truncatingIfNeeded: $0 * 7) })])
    let expected = streamOfFrames + [big] + streamOfFrames
    let bytes = expected.flatMap { $0.encoded() }
    var decoder = FrameDecoder()
    var frames: [Frame] = []
    var offset = 0, reads = 0
    while offset < bytes.count {
        reads += 1
        let n = decoder.fill { room -> Int? in
            #expect(room.count >= 4096)
            if reads % 3 == 0 { return nil }  // would block: nothing read
            let n = min(chunk, room.count, bytes.count - offset)
            room.copyBytes(from: bytes[offset..<(offset + n)])
            return n
        }
        offset += n ?? 0
        while let f = try decoder.next() { frames.append(f) }
    }
    #expect(frames == expected)
    #expect(decoder.bufferedCount == 0)
    if chunk == 1 << 20 { #expect(reads <= 6, "\(reads) reads") }
    try decoder.finish()
}

@Test func encodingIntoABufferAppendsTheSameBytes() {
    var out: [UInt8] = [9, 9]
    for f in streamOfFrames { f.encode(into: &out) }
    #expect(out == [9, 9] + streamOfFrames.flatMap { $0.encoded() })
    #expect(Array(Frame(.close, requestID: 1, [.int(1)]).encoded().prefix(4)) == [0, 0, 0, 14])
}

/// A one-value reply and a reply of an encoded value are written without a
/// frame or an array: the bytes must be a reply frame's all the same, after
/// whatever the buffer held (the length written at the frame's own offset).
@Test(arguments: sampleValues)
func aOneValueReplyIsTheReplyFramesBytes(_ value: Value) {
    let frame = Frame.reply(to: .getPortState, requestID: 0x0A0B_0C0D, [value])
    var one: [UInt8] = [7, 7, 7]
    Frame.encodeReply(to: .getPortState, requestID: 0x0A0B_0C0D, value, into: &one)
    #expect(one == [7, 7, 7] + frame.encoded())
    var encoded: [UInt8] = [7]
    Frame.encodeReply(to: .getPortState, requestID: 0x0A0B_0C0D, EncodedValue(value), into: &encoded)
    #expect(encoded == [7] + frame.encoded())
}

@Test func decoderReturnsNilUntilTheFrameIsComplete() throws {
    let bytes = Frame(.close, requestID: 9, [.int(4)]).encoded()
    var decoder = FrameDecoder()
    for b in bytes.dropLast() {
        decoder.feed([b])
        #expect(try decoder.next() == nil)
    }
    decoder.feed([bytes.last!])
    #expect(try decoder.next() == Frame(.close, requestID: 9, [.int(4)]))
    #expect(try decoder.next() == nil)
}

@Test func truncatedStreamYieldsNoFrameAndFinishThrowsTruncatedFrame() throws {
    let whole = Frame(.send, requestID: 4, [.int(1), "payload"]).encoded()
    for cut in [1, 3, 4, 5, 9, whole.count - 1] {
        var decoder = FrameDecoder()
        decoder.feed(whole.prefix(cut))
        #expect(try decoder.next() == nil, "cut at \(cut)")
        #expect(decoder.bufferedCount == cut)
        #expect(wireErrorCode { try decoder.finish() } == .truncatedFrame, "cut at \(cut)")
    }
}

@Test func streamEndingAfterWholeFramesFinishesCleanly() throws {
    var decoder = FrameDecoder()
    decoder.feed(Frame(.close, requestID: 1, [.int(1)]).encoded())
    _ = try decoder.next()
    #expect(wireErrorCode { try decoder.finish() } == nil)
}

@Test func streamEndingInsideTheSecondFrameThrowsTruncatedFrame() throws {
    let a = Frame(.close, requestID: 1, [.int(1)]).encoded()
    let b = Frame(.close, requestID: 2, [.int(2)]).encoded()
    var decoder = FrameDecoder()
    decoder.feed(a + b.dropLast(2))
    #expect(try decoder.next() == Frame(.close, requestID: 1, [.int(1)]))
    #expect(try decoder.next() == nil)
    #expect(wireErrorCode { try decoder.finish() } == .truncatedFrame)
}

// MARK: - Limits on the frame

@Test(arguments: [UInt32(WireLimits.maxFrameBody) + 1, 0x7fff_ffff, UInt32.max])
func rejectsFrameAboveMaximumLengthFromThePrefixAlone(_ length: UInt32) {
    // Only the four prefix bytes are fed: the decoder must refuse without waiting
    // for (or reserving room for) a body it will never accept.
    var decoder = FrameDecoder()
    decoder.feed(bigEndian(length))
    #expect(wireErrorCode { _ = try decoder.next() } == .frameTooLarge)
    #expect(decoder.bufferedCount == 4)
}

@Test func frameOfExactlyTheMaximumLengthIsAwaitedNotRejected() throws {
    var decoder = FrameDecoder()
    decoder.feed(bigEndian(UInt32(WireLimits.maxFrameBody)))
    #expect(try decoder.next() == nil)
}

@Test func smallerConfiguredMaximumIsEnforced() {
    let frame = Frame(.send, requestID: 1, [.int(1), .bytes(Array(repeating: 0, count: 100))]).encoded()
    #expect(wireErrorCode { _ = try decodeAll(frame, maxBody: 50) } == .frameTooLarge)
    #expect(wireErrorCode { _ = try decodeAll(frame, maxBody: frame.count - 4) } == nil)
}

@Test(arguments: [0, 1, 4])
func rejectsBodyTooShortForOpAndRequestID(_ length: UInt32) {
    #expect(wireErrorCode { _ = try decodeAll(bigEndian(length) + Array(repeating: 1, count: Int(length))) } == .frameTooSmall)
}

/// Every number below 128 that names no op (computed, so new ops do not break the tests).
let unknownOpNumbers: [UInt8] = (UInt8(0)...127).filter { Op(rawValue: $0) == nil }

@Test func rejectsEveryUnknownOperationNumberAsRequestOrReply() {
    #expect(unknownOpNumbers.contains(0))
    #expect(unknownOpNumbers.contains(127))
    for op in unknownOpNumbers {
        for raw in [op, op | 0x80] {
            #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: raw, payload: [])) } == .unknownOperation,
                    "op \(raw)")
        }
    }
}

@Test func unknownOperationIsRejectedEvenWithWellFormedValues() throws {
    let op = try #require(unknownOpNumbers.last)
    let payload = encodedValue(.int(1)) + encodedValue("x")
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: op, requestID: 3, payload: payload)) } == .unknownOperation)
}

// MARK: - Malformed values

@Test(arguments: [UInt8(7), 8, 0x7f, 0xff])
func rejectsBadValueTag(_ tag: UInt8) {
    let payload = encodedValue(.int(1)) + [tag]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.close.rawValue, payload: payload)) } == .badValueTag)
}

@Test func rejectsStringLongerThanTheFrame() {
    // Claims 1000 bytes, carries 3.
    let payload: [UInt8] = [5] + bigEndian(1000) + [0x61, 0x62, 0x63]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.log.rawValue, payload: payload)) } == .truncatedValue)
}

@Test func rejectsStringLengthOfFourGigabytesWithoutAllocating() {
    let payload: [UInt8] = [5] + bigEndian(UInt32.max)
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.log.rawValue, payload: payload)) } == .truncatedValue)
}

@Test func rejectsStringLengthOneByteBeyondTheFrame() {
    let payload: [UInt8] = [5] + bigEndian(4) + [1, 2, 3]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.log.rawValue, payload: payload)) } == .truncatedValue)
    let exact: [UInt8] = [5] + bigEndian(3) + [1, 2, 3]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.log.rawValue, payload: exact)) } == nil)
}

@Test func rejectsTableCountBeyondTheFrame() {
    // 1000 entries need at least 2000 bytes; the frame has 4.
    let payload: [UInt8] = [6] + bigEndian(1000) + [0, 0, 0, 0]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.run.rawValue, payload: payload)) } == .truncatedValue)
}

@Test func rejectsTableCountAboveTheEntryLimit() {
    let payload: [UInt8] = [6] + bigEndian(UInt32.max)
    let code = wireErrorCode { _ = try decodeAll(rawFrame(op: Op.run.rawValue, payload: payload)) }
    #expect(code == .tooManyEntries)
}

@Test func rejectsTableWhoseLastEntryIsCutShort() {
    // Two entries announced: (nil, nil), then key false with an int value cut to 2 of 8 bytes.
    let payload: [UInt8] = [6] + bigEndian(2) + [0, 0, 1, 3, 0, 0]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.run.rawValue, payload: payload)) } == .truncatedValue)
}

@Test(arguments: [UInt8(3), 4])
func rejectsNumberCutShort(_ tag: UInt8) {
    let payload: [UInt8] = [tag, 0, 0, 0, 0, 0, 0, 1]   // 7 of 8 bytes
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.close.rawValue, payload: payload)) } == .truncatedValue)
}

@Test func acceptsNestingUpToTheMaximumDepth() throws {
    let frame = Frame(.run, requestID: 1, [nested(levels: WireLimits.maxDepth)])
    #expect(try decodeAll(frame.encoded()) == [frame])
}

@Test func rejectsNestingDeeperThanTheMaximumDepth() {
    let frame = Frame(.run, requestID: 1, [nested(levels: WireLimits.maxDepth + 1)])
    #expect(wireErrorCode { _ = try decodeAll(frame.encoded()) } == .tooDeep)
}

@Test func rejectsVeryDeepNestingWithoutExhaustingTheStack() {
    // 100,000 nested one-entry tables; the key of each is nil.
    var payload: [UInt8] = []
    for _ in 0..<100_000 { payload += [6, 0, 0, 0, 1, 0] }
    payload += [0]
    #expect(wireErrorCode { _ = try decodeAll(rawFrame(op: Op.run.rawValue, payload: payload)) } == .tooDeep)
}

@Test func nestingLimitAlsoAppliesToTableKeys() {
    var key: Value = .int(1)
    for _ in 0...WireLimits.maxDepth { key = .table([TableEntry(key, .none)]) }
    let frame = Frame(.run, requestID: 1, [.table([TableEntry(key, .none)])])
    #expect(wireErrorCode { _ = try decodeAll(frame.encoded()) } == .tooDeep)
}

// MARK: - Argument schemas

/// A value of the kind `kind` asks for.
func goodValue(_ kind: ArgumentKind) -> Value {
    switch kind {
    case .int: return .int(1)
    case .string: return .string("x")
    case .table: return .table([])
    case .tableOrNil: return .table([TableEntry("a", 1)])
    case .any: return .bool(true)
    }
}

/// A value of the wrong kind for `kind`, or nil when every value fits.
func wrongValue(_ kind: ArgumentKind) -> Value? {
    switch kind {
    case .int: return .double(1.0)     // a double, even a whole one, is not an int
    case .string: return .int(1)
    case .table: return Value.none
    case .tableOrNil: return .bytes([])
    case .any: return nil
    }
}

@Test(arguments: Op.allCases)
func validateArgumentsAcceptsTheOpsSchema(_ op: Op) throws {
    let values = op.arguments.map(goodValue)
    try Frame(op, requestID: 1, values).validateArguments()
    // And after a trip over the wire.
    let decoded = try decodeAll(Frame(op, requestID: 1, values).encoded())
    try decoded.first?.validateArguments()
}

@Test(arguments: Op.allCases)
func validateArgumentsRejectsWrongArgumentCount(_ op: Op) {
    let values = op.arguments.map(goodValue)
    let tooMany = Frame(op, requestID: 1, values + [.none])
    #expect(wireErrorCode { try tooMany.validateArguments() } == .schemaMismatch)
    // An op without arguments cannot be sent too few.
    guard !values.isEmpty else { return }
    let tooFew = Frame(op, requestID: 1, Array(values.dropLast()))
    #expect(wireErrorCode { try tooFew.validateArguments() } == .schemaMismatch)
}

@Test(arguments: Op.allCases)
func validateArgumentsRejectsAnArgumentOfTheWrongKind(_ op: Op) {
    let kinds = op.arguments
    var checked = 0
    for (i, kind) in kinds.enumerated() {
        guard let wrong = wrongValue(kind) else { continue }
        var values = kinds.map(goodValue)
        values[i] = wrong
        #expect(wireErrorCode { try Frame(op, requestID: 1, values).validateArguments() } == .schemaMismatch,
                "argument \(i) of \(op)")
        checked += 1
    }
    #expect(checked > 0 || kinds.isEmpty)
}

@Test func tableOrNilArgumentAcceptsNil() throws {
    try Frame(.registryRelease, [.string("scope"), .none]).validateArguments()
    try Frame(.registryRelease, [.string("scope"), .table([])]).validateArguments()
}

@Test func validateArgumentsRejectsUnknownOperation() {
    #expect(wireErrorCode { try Frame(op: unknownOpNumbers.last!, values: []).validateArguments() } == .unknownOperation)
}

@Test func replyFramesAreNotCheckedAgainstTheRequestSchema() throws {
    try Frame.reply(to: .connect, requestID: 1, [.bool(true), .none, .none]).validateArguments()
}

// MARK: - Op numbering

@Test func opNumbersAreUniqueAndBelow128() {
    let raw = Op.allCases.map(\.rawValue)
    #expect(Set(raw).count == raw.count)
    #expect(raw.allSatisfy { $0 > 0 && $0 < 128 })
}

@Test(arguments: Op.allCases)
func replyNumberSetsTheHighBitAndMapsBack(_ op: Op) {
    let reply = Op.reply(to: op)
    #expect(reply == op.rawValue | 0x80)
    #expect(reply & 0x80 != 0)
    #expect(reply & 0x7f == op.rawValue)
    let frame = Frame(op: reply, requestID: 1)
    #expect(frame.isReply)
    #expect(frame.request == op)
    #expect(!Frame(op, requestID: 1).isReply)
}

// MARK: - Fuzz

/// SplitMix64: small, seeded, and the same on every platform.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random input biased toward reaching the body parser: often a plausible length
/// prefix, a known op and small value tags; sometimes pure noise.
func fuzzInput(_ rng: inout SplitMix64) -> [UInt8] {
    let bodyLength = Int.random(in: 0...48, using: &rng)
    var body: [UInt8] = []
    for _ in 0..<bodyLength {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: body.append(UInt8.random(in: 0...7, using: &rng))   // a tag, or just past the last
        case 1: body.append(0)
        default: body.append(UInt8.random(in: 0...255, using: &rng))
        }
    }
    switch Int.random(in: 0..<4, using: &rng) {
    case 0:
        return body                                                   // pure noise
    case 1:
        return bigEndian(UInt32.random(in: 0...UInt32.max, using: &rng)) + body
    default:
        // A valid prefix and op, so the value reader does the work.
        if !body.isEmpty, Bool.random(using: &rng) {
            body[0] = Op.allCases.randomElement(using: &rng)!.rawValue | (Bool.random(using: &rng) ? 0x80 : 0)
        }
        let fudge = Int.random(in: -2...2, using: &rng)
        return bigEndian(UInt32(max(0, body.count + fudge))) + body
    }
}

@Test func randomInputNeverCrashesTheDecoder() {
    var rng = SplitMix64(seed: 0x6E73_6562_6F78)    // "nsebox"
    var framesDecoded = 0, errors = 0, incomplete = 0
    var errorCodes: Set<WireError.Code> = []
    for _ in 0..<20_000 {
        let input = fuzzInput(&rng)
        var decoder = FrameDecoder()
        // Feed in two random pieces so the split path is exercised too.
        let split = Int.random(in: 0...input.count, using: &rng)
        decoder.feed(input[..<split])
        var produced: [Frame] = []
        var failed = false
        do {
            while let f = try decoder.next() { produced.append(f) }
            decoder.feed(input[split...])
            while let f = try decoder.next() { produced.append(f) }
        } catch let e as WireError {
            failed = true
            errors += 1
            errorCodes.insert(e.code)
        } catch {
            Issue.record("non-WireError thrown: \(error)")
            failed = true
        }
        framesDecoded += produced.count
        if !failed {
            if decoder.bufferedCount > 0 { incomplete += 1 }
            // Whatever decoded must re-encode to exactly the bytes consumed.
            let consumed = input.count - decoder.bufferedCount
            #expect(produced.flatMap { $0.encoded() } == Array(input[..<consumed]))
        }
    }
    // The fuzzer must actually reach both outcomes, and several error paths.
    #expect(framesDecoded > 100)
    #expect(errors > 1000)
    #expect(incomplete > 0)
    #expect(errorCodes.isSuperset(of: [.frameTooLarge, .frameTooSmall, .unknownOperation, .badValueTag, .truncatedValue]))
}

// MARK: - Raw frames, the scanner, pre-encoded replies

@Test(arguments: sampleValues)
func aRawFrameScansToTheValuesTheDecoderGives(_ value: Value) throws {
    let frame = Frame.reply(to: .receive, requestID: 9, [.bool(true), value])
    var decoder = FrameDecoder()
    decoder.feed(frame.encoded())
    let raw = try #require(try decoder.nextRaw())
    #expect(raw.isReply && raw.requestID == 9 && raw.op == Op.reply(to: .receive))
    var values: [Value] = []
    try ValueScanner.scan(raw.values) { scanner in
        while !scanner.atEnd { values.append(try scanner.value()) }
    }
    #expect(values.count == 2 && bitwiseEqual(values[1], value))
    #expect(bitwiseEqual(try raw.decoded().values[1], value))
}

@Test func theScannerRejectsWhatTheDecoderRejects() {
    let payloads: [[UInt8]] = [
        [9],                                  // unknown tag
        [5] + bigEndian(100) + [1, 2],        // string longer than the frame
        [6] + bigEndian(1000) + [0, 0],       // table count beyond the frame
        [6] + bigEndian(UInt32.max),          // table count above the limit
        [3, 0, 0, 1],                         // integer cut short
    ]
    for payload in payloads {
        let scannerCode = wireErrorCode {
            try ValueScanner.scan(payload[...]) { scanner in while !scanner.atEnd { _ = try scanner.value() } }
        }
        let decoderCode = wireErrorCode { _ = try decodeAll(rawFrame(op: Op.run.rawValue, payload: payload)) }
        #expect(scannerCode != nil && scannerCode == decoderCode, "\(payload)")
    }
}

@Test func aReplyWithAPreEncodedValueHasTheBytesOfTheSameReplyEncodedWhole() {
    let table = Value.record(["number": 80, "protocol": "tcp", "version": .record(["name": "http"])])
    var out: [UInt8] = [1, 2]
    Frame.encodeReply(to: .getPortState, requestID: 77, EncodedValue(table), into: &out)
    #expect(out == [1, 2] + Frame.reply(to: .getPortState, requestID: 77, [table]).encoded())
}
