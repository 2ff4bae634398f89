import Glibc

/// A failed system call: the call's name and its errno. Open struct, so new errno
/// values never break callers.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public var call: String
    public var errno: Int32
    public init(_ call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs one system call: retries on EINTR, turns -1 into a thrown `SystemError`
/// carrying the call's name. Every syscall of the project goes through here.
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ name: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        throw SystemError(name, errno: e)
    }
}

/// Like `syscall`, but EAGAIN/EWOULDBLOCK come back as nil instead of an error,
/// for non-blocking sockets.
@inline(__always)
public func nonBlockingSyscall<T: FixedWidthInteger>(_ name: String, _ body: () -> T) throws(SystemError) -> T? {
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        if e == EINTR { continue }
        if e == EAGAIN || e == EWOULDBLOCK { return nil }
        throw SystemError(name, errno: e)
    }
}
