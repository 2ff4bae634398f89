/// A frame of integers only, laid out once by `Frame.encode` for code that
/// fills them in or reads them in place, without allocating: the zygote's fork
/// loop, in C, which must write no memory its instances share.
public struct IntegerFrameLayout: Sendable {
    /// The frame's bytes with every integer 0 (request id 0).
    public let bytes: [UInt8]
    /// Where each integer's 8 big-endian bytes begin in `bytes`.
    public let offsets: [Int]

    public init(_ op: Op, integers count: Int) {
        // An integer's encoding is a fixed size, its 8 bytes last.
        var one: [UInt8] = []
        Value.int(0).encode(into: &one)
        let header = Frame(op).encoded().count
        bytes = Frame(op, Array(repeating: .int(0), count: count)).encoded()
        offsets = (0..<count).map { header + $0 * one.count + one.count - 8 }
    }
}
