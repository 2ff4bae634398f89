import CSandboxSys
import Glibc

/// An owned file descriptor: closed exactly once, when the value is consumed by
/// `close()` or dropped. Lend the raw number with `raw` only for the length of a call.
public struct FileDescriptor: ~Copyable, Sendable {
    public let raw: Int32

    public init(taking raw: Int32) { self.raw = raw }

    deinit { if raw >= 0 { Glibc.close(raw) } }

    /// Closes now (close errors other than EBADF are not actionable after the fact).
    public consuming func close() { }

    /// Gives up ownership without closing: the caller now owns the number.
    public consuming func release() -> Int32 {
        let r = raw
        discard self
        return r
    }

    /// Room for `bytes` unread in a socket's send buffer: SO_SNDBUFFORCE where
    /// the process may (root), else SO_SNDBUF up to the system's limit.
    public func setSendBuffer(_ bytes: Int32) {
        var size = bytes
        let len = socklen_t(MemoryLayout<Int32>.size)
        if (try? syscall("setsockopt(SO_SNDBUFFORCE)") { setsockopt(raw, SOL_SOCKET, SO_SNDBUFFORCE, &size, len) }) == nil {
            _ = try? syscall("setsockopt(SO_SNDBUF)") { setsockopt(raw, SOL_SOCKET, SO_SNDBUF, &size, len) }
        }
    }

    public func setNonBlocking() throws(SystemError) {
        let flags = try syscall("fcntl(F_GETFL)") { fcntl(raw, F_GETFL) }
        _ = try syscall("fcntl(F_SETFL)") { fcntl(raw, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Reads into `buffer`: the byte count, nil when it would block, 0 at end of stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        try nonBlockingSyscall("read") { Glibc.read(raw, buffer.baseAddress, buffer.count) }
    }

    /// Blocks until the descriptor has something to read (or is closed).
    ///
    /// A reader blocked in read(2) on a Unix stream socket is also woken each
    /// time the peer reads what this end sent (the "room to write" wake-up shares
    /// the socket's wait queue): poll(2) asked for input alone sleeps through it.
    public func waitReadable() throws(SystemError) {
        var p = pollfd(fd: raw, events: Int16(POLLIN), revents: 0)
        while true {
            let r = Glibc.poll(&p, 1, -1)
            if r >= 0 { return }
            if errno != EINTR { throw SystemError("poll", errno: errno) }
        }
    }

    /// Reads what is there now without blocking: nil when nothing is.
    public func readNow(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
        try nonBlockingSyscall("recv") { Glibc.recv(raw, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
    }

    /// Reads up to `max` bytes; nil when it would block, empty at end of stream.
    public func read(max: Int) throws -> [UInt8]? {
        // Uninitialised: zeroing 64 KiB for a 30-byte reply cost more than the reply.
        var failure: SystemError?
        var wouldBlock = false
        let buf = [UInt8](unsafeUninitializedCapacity: max) { p, count in
            do {
                let n = try nonBlockingSyscall("read") { Glibc.read(raw, p.baseAddress, p.count) }
                if let n { count = n } else { wouldBlock = true; count = 0 }
            } catch { failure = (error as? SystemError) ?? SystemError("read", errno: EIO); count = 0 }
        }
        if let failure { throw failure }
        if wouldBlock { return nil }
        // A small read does not keep a large buffer alive.
        guard buf.count < max / 4 else { return buf }
        return [UInt8](unsafeUninitializedCapacity: buf.count) { p, count in
            count = buf.withUnsafeBufferPointer { p.initialize(from: $0).1 }
        }
    }

    /// Writes what it can; returns the byte count, or nil when it would block.
    public func write(_ bytes: ArraySlice<UInt8>) throws -> Int? {
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws -> Int? in
            try nonBlockingSyscall("write") { Glibc.send(raw, p.baseAddress, p.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Writes what it can of `bytes` with the descriptor `passing` attached
    /// (SCM_RIGHTS, with the first byte); the byte count, or nil when it would block.
    public func write(_ bytes: ArraySlice<UInt8>, passing: Int32) throws -> Int? {
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws -> Int? in
            try nonBlockingSyscall("sendmsg") { nse_send_with_fd(raw, p.baseAddress, p.count, passing) }
        }
    }

    /// Writes all of `bytes`, blocking (for blocking descriptors only).
    public func writeAll(_ bytes: [UInt8]) throws {
        let fd = raw
        try bytes.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws in
            var offset = 0
            while offset < p.count {
                offset += try syscall("write") { Glibc.write(fd, p.baseAddress! + offset, p.count - offset) }
            }
        }
    }

    /// Reads exactly `count` bytes, blocking; nil if the stream ends first.
    public func readExactly(_ count: Int) throws -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = try buf.withUnsafeMutableBytes { (p: UnsafeMutableRawBufferPointer) throws -> Int in
                try syscall("read") { Glibc.read(raw, p.baseAddress! + got, count - got) }
            }
            if n == 0 { return nil }
            got += n
        }
        return buf
    }
}

/// The two ends of a Unix stream socketpair, both close-on-exec.
public struct SocketPair: ~Copyable {
    public var broker: FileDescriptor
    public var child: FileDescriptor

    public init() throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        _ = try syscall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        broker = FileDescriptor(taking: fds[0])
        child = FileDescriptor(taking: fds[1])
    }
}

extension SocketPair {
    /// Keeps the broker's end and closes the child's (once the child holds its own copy).
    public consuming func keepBrokerEnd() -> FileDescriptor {
        broker
    }

    /// Both ends, each given to `wrap`, which takes ownership of it.
    public consuming func wrapped<T>(_ wrap: (consuming FileDescriptor) -> T) -> (broker: T, child: T) {
        (wrap(broker), wrap(child))
    }
}
