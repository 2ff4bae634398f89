#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket bound to 127.0.0.1 on a kernel-chosen port.
final class LoopbackSocket {
    let fd: Int32
    let port: Int

    /// - Parameter listening: false leaves the port bound but refusing
    ///   connections; `close()` then frees it so it reads as closed.
    init(listening: Bool) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { Glibc.close(fd); throw SocketError(call: "bind") }
        guard !listening || listen(fd, 16) == 0 else { Glibc.close(fd); throw SocketError(call: "listen") }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    private var isOpen = true

    func close() {
        if isOpen { Glibc.close(fd) }
        isOpen = false
    }

    deinit { close() }
}

struct SocketError: Error {
    var call: String
}
