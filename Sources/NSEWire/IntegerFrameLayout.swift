/// A frame of integers only, laid out once by `Frame.encode` for code that
/// fills them in or reads them in place, without allocating: the zygote's fork
/// loop, in C, which must write no memory its instances share.
public struct IntegerFrameLayout: Sendable {
    /// The frame's bytes with every integer 0 (request id 0).
    public let bytes: [UInt8]
    /// Where each integer's 8 big-endian bytes begin in `bytes`.
    public let offsets: [Int]

    public init(_ op: Op, integers count: Int) {
        // Each integer is found by its own marker value; the frame is then
        // encoded again with zeros (the same length: an integer's size is fixed).
        let marker: Int64 = 0x0102_0304_0506_0708
        let markerBytes: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var offsets: [Int] = []
        for i in 0..<count {
            let values = (0..<count).map { Value.int($0 == i ? marker : 0) }
            let bytes = Frame(op, values).encoded()
            let at = (0...(bytes.count - 8)).last { Array(bytes[$0..<($0 + 8)]) == markerBytes }!
            offsets.append(at)
        }
        self.bytes = Frame(op, Array(repeating: .int(0), count: count)).encoded()
        self.offsets = offsets
    }
}
