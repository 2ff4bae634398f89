/// Why a frame could not be decoded. Any of these ends the child that sent it.
public struct WireError: Error, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let raw: String
        public static let frameTooLarge = Code(raw: "frame too large")
        public static let frameTooSmall = Code(raw: "frame too small")
        public static let unknownOperation = Code(raw: "unknown operation")
        public static let badValueTag = Code(raw: "bad value tag")
        public static let truncatedValue = Code(raw: "truncated value")
        public static let tooDeep = Code(raw: "value nested too deep")
        public static let tooManyEntries = Code(raw: "table has too many entries")
        public static let trailingBytes = Code(raw: "trailing bytes after values")
        public static let schemaMismatch = Code(raw: "arguments do not match the operation")
        public static let truncatedFrame = Code(raw: "stream ended inside a frame")
    }
    public var code: Code
    public var detail: String
    public init(_ code: Code, _ detail: String = "") { self.code = code; self.detail = detail }
    public var description: String { detail.isEmpty ? code.raw : "\(code.raw): \(detail)" }
    public static func == (a: WireError, b: WireError) -> Bool { a.code == b.code }
}
