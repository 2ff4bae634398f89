/// Hard limits of the protocol, checked by both sides before allocating.
public enum WireLimits {
    /// Version both sides announce in the hello; a mismatch ends the child.
    public static let protocolVersion: Int64 = 6
    /// The largest frame body (op + request id + values) either side accepts.
    public static let maxFrameBody = 16 * 1024 * 1024
    /// Deepest table nesting a value may have.
    public static let maxDepth = 64
    /// Most entries in one table value.
    public static let maxTableEntries = 1 << 20
    /// Bytes of the header before the body: a big-endian UInt32 body length.
    public static let lengthPrefix = 4
    /// The largest chunk one receive reply carries.
    public static let maxReceiveChunk = 1 << 20
}
