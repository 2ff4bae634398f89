import Glibc
import NSESystem

/// The audit log's file. Lines are copied into a shared mapping of it: a line
/// there is in the kernel's page cache at once, as a write(2) would have put it
/// (it survives the broker's death), without a system call per line. The file
/// grows a mebibyte at a time, its blocks allocated as it grows (a full disk is
/// then a failed growth, after which lines go by write(2), not a SIGBUS at a
/// store), and is cut to its length when the log closes; a broker that dies
/// leaves zeros after its last line, which readers skip as they skip a line cut
/// short (docs/audit.md). A file that cannot be mapped (a pipe, a terminal) gets
/// one write(2) per line. (Someone who truncates the file under a running broker
/// ends it with SIGBUS: the file is the broker's, mode 0600.)
final class AuditFile {
    private let fd: FileDescriptor
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    private var length = 0
    static let growth = 1 << 20

    init(path: String) throws(SystemError) {
        var raw = Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if raw < 0 { raw = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }
        guard raw >= 0 else { throw SystemError("open(\(path))", errno: errno) }
        fd = FileDescriptor(taking: raw)
        var info = stat()
        if fstat(raw, &info) == 0, info.st_mode & S_IFMT == S_IFREG { _ = map(AuditFile.growth) }
    }

    deinit { close() }

    /// Appends one line.
    func append(_ line: UnsafeRawBufferPointer) {
        if base != nil, length + line.count > capacity {
            let size = (length + line.count + AuditFile.growth) / AuditFile.growth * AuditFile.growth
            if !map(size) { unmap() }
        }
        if let base, let from = line.baseAddress {
            (base + length).copyMemory(from: from, byteCount: line.count)
            length += line.count
        } else if base == nil {
            try? fd.writeAll(Array(line))
        }
    }

    /// Cuts the file to its lines; what comes later is written with write(2).
    func close() { unmap() }

    /// The file grown to `size` bytes and mapped whole.
    private func map(_ size: Int) -> Bool {
        guard posix_fallocate(fd.raw, 0, off_t(size)) == 0 else { return false }
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.raw, 0)
        guard let p, p != UnsafeMutableRawPointer(bitPattern: -1) else { return false }
        if let base { munmap(base, capacity) }
        base = p
        capacity = size
        // The pages the next lines go to, made writable in one call (Linux 5.14's
        // MADV_POPULATE_WRITE) instead of a fault at the first store to each.
        let from = length / 4096 * 4096
        _ = madvise(p + from, size - from, AuditFile.populateWrite)
        return true
    }

    /// MADV_POPULATE_WRITE, which Glibc's headers here do not name. An older
    /// kernel answers EINVAL, and the pages fault in as before.
    static let populateWrite: Int32 = 23

    private func unmap() {
        guard let base else { return }
        munmap(base, capacity)
        self.base = nil
        _ = ftruncate(fd.raw, off_t(length))
    }
}
