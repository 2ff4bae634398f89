import Testing
import NSEWire

/// The zygote's loop fills in and reads frames through `IntegerFrameLayout`
/// (in C, big-endian at the offsets): what it writes must decode as the frame
/// NSEWire would have encoded, and what it reads must be where the broker's
/// encoder put it.
@Suite("Integer frame layout")
struct IntegerFrameLayoutTests {
    /// Writes `v` big-endian at `at`, as zygote.c's put_int does.
    func put(_ v: Int64, into bytes: inout [UInt8], at: Int) {
        for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (56 - 8 * UInt64(i))) }
    }

    @Test(arguments: [(Op.childSpawned, 2), (Op.childExited, 4), (Op.spawnChild, 1), (Op.killChild, 1)])
    func filledInFramesDecodeAsTheirValues(_ op: Op, _ count: Int) throws {
        let layout = IntegerFrameLayout(op, integers: count)
        #expect(layout.bytes == Frame(op, Array(repeating: .int(0), count: count)).encoded())
        let values: [Int64] = [7, -5, Int64.max, Int64.min].prefix(count).map { $0 }
        var bytes = layout.bytes
        for (v, at) in zip(values, layout.offsets) { put(v, into: &bytes, at: at) }
        var decoder = FrameDecoder()
        decoder.feed(bytes)
        let frame = try #require(try decoder.next())
        #expect(frame == Frame(op, values.map { .int($0) }))
    }

    /// A command as the broker sends it (with a request id) has its integer at
    /// the layout's offset, and the same bytes elsewhere but the request id.
    @Test func aCommandFromTheBrokerMatchesTheLayout() {
        let layout = IntegerFrameLayout(.spawnChild, integers: 1)
        let sent = Frame(.spawnChild, requestID: 0xdead_beef, [.int(0x1122_3344_5566_7788)]).encoded()
        #expect(sent.count == layout.bytes.count)
        #expect(Array(sent[0..<5]) == Array(layout.bytes[0..<5]))
        #expect(Array(sent[9..<layout.offsets[0]]) == Array(layout.bytes[9..<layout.offsets[0]]))
        #expect(Array(sent[layout.offsets[0]...]) == [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
    }

    /// The loop reads killChild by spawnChild's layout and killChild's op.
    @Test func killChildDiffersFromSpawnChildOnlyByItsOp() {
        let spawn = IntegerFrameLayout(.spawnChild, integers: 1), kill = IntegerFrameLayout(.killChild, integers: 1)
        var expected = spawn.bytes
        expected[4] = Op.killChild.rawValue
        #expect(kill.bytes == expected)
        #expect(kill.offsets == spawn.offsets)
    }
}
