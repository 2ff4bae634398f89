/// A rejected target, port or data-file specification.
///
/// The message is meant to be shown to the user as is; it always quotes the
/// piece of input that was rejected so the user can find it on the command line.
public struct SpecError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
