import CSandboxSys
import Glibc

/// Who the sandboxed child runs as.
public struct ChildCredentials: Sendable {
    public var uid: uid_t
    public var gid: gid_t
    /// The unprivileged user for children of a root broker: nobody/nogroup.
    public static let nobody = ChildCredentials(uid: 65534, gid: 65534)
    public init(uid: uid_t, gid: gid_t) { self.uid = uid; self.gid = gid }
}

/// The child executable, opened once by the broker and executed through its fd, so
/// an unprivileged child needs no search permission on the path to it.
public struct ChildExecutable: ~Copyable {
    public let fd: FileDescriptor
    public let path: String

    public init(path: String) throws(SystemError) {
        self.path = path
        fd = FileDescriptor(taking: try syscall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) })
    }

    /// Has the kernel cache the child's code in 2 MiB folios, which a zygote then
    /// maps whole (nse_hugefile_warm). Before the zygote's exec; true if it did.
    @discardableResult
    public func cacheCodeOnHugePages() -> Bool { nse_hugefile_warm(fd.raw) == 1 }

    /// Starts a child holding `rpc` as fd 3 and nothing else, with an empty
    /// environment. `credentials` nil keeps the broker's own user. It has exec'd
    /// when this returns.
    public func spawn(rpc: borrowing FileDescriptor, arguments: [String],
                      credentials: ChildCredentials?, keepStderr: Bool) throws(SystemError) -> pid_t {
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        argv.append(nil)
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let err = argv.withUnsafeBufferPointer { argvp -> Int32 in
            var config = nse_spawn_config(
                rpc_fd: rpc.raw, exe_fd: fd.raw, keep_stderr: keepStderr ? 1 : 0,
                drop_to_user: credentials == nil ? 0 : 1,
                uid: credentials?.uid ?? 0, gid: credentials?.gid ?? 0,
                argv: argvp.baseAddress)
            return nse_spawn(&config, &pid)
        }
        if err != 0 { throw SystemError("spawn(\(path))", errno: err) }
        return pid
    }
}

/// Makes a child of ours yield to us: `SCHED_BATCH`, 5 nice levels below the
/// caller (docs/performance.md: the broker that serves it runs first); the
/// processes it forks later inherit both. Best effort: false if the kernel
/// refused either.
@discardableResult
public func yieldToCaller(_ pid: pid_t) -> Bool { nse_yield_to_caller(pid) == 0 }

/// How a child ended.
public enum ChildExit: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    public init(waitStatus s: Int32) {
        if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
    }

    public var description: String {
        switch self {
        case .exited(let c): return "exit status \(c)"
        case .signaled(let s): return "signal \(s) (\(String(cString: strsignal(s))))"
        }
    }
}

/// Reaps one ended child without blocking: nil when none has ended.
public func reapChild() -> (pid: pid_t, exit: ChildExit)? {
    var status: Int32 = 0
    let pid = waitpid(-1, &status, WNOHANG)
    guard pid > 0 else { return nil }
    return (pid, ChildExit(waitStatus: status))
}

/// How many CPUs this process (and what it spawns, which inherits the mask) may
/// run on: `taskset -c 0` makes it 1.
public func usableCPUs() -> Int { Int(nse_usable_cpus()) }
