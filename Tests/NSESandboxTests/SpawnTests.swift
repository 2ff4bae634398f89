import Testing
import Glibc
import NSESystem

/// ChildExecutable.spawn (nse_spawn): the child runs in the broker's memory until
/// its exec (CLONE_VM | CLONE_VFORK), so what it does there must be its own: its
/// descriptors, its user, its signal handlers. Each child here is /bin/sh, which
/// reports over fd 3, the only descriptor it is given.
@Suite("Spawning a child")
struct SpawnTests {
    /// Runs `script` with /bin/sh as a spawned child and returns what it wrote to
    /// fd 3 and how it ended.
    func run(_ script: String, credentials: ChildCredentials? = nil) throws -> (output: String, exit: ChildExit) {
        let sh = try ChildExecutable(path: "/bin/sh")
        let pair = try SocketPair()
        let pid = try sh.spawn(rpc: pair.child, arguments: ["-c", script], credentials: credentials, keepStderr: false)
        let ours = pair.keepBrokerEnd()
        var output: [UInt8] = []
        while let bytes = try ours.read(max: 4096), !bytes.isEmpty { output += bytes }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (String(decoding: output, as: UTF8.self), ChildExit(waitStatus: status))
    }

    @Test func theChildHoldsOnlyItsSocketAndAnEmptyEnvironment() throws {
        // This process has descriptors open that are not close-on-exec (one made
        // here on purpose); the child must hold fd 3 alone. ls, exec'd by the
        // shell with its output on fd 3, shows what it inherited: fd 3 and its
        // copy as fd 1 (sockets), and the directory it opened to list.
        let spare = open("/dev/null", O_RDONLY)
        defer { close(spare) }
        let (listing, exit) = try run("exec ls -l /proc/self/fd >&3")
        #expect(exit == .exited(0))
        let targets = listing.split(separator: "\n").filter { $0.contains(" -> ") }
            .map { ($0.split(separator: " ").dropLast(2).last.map(String.init) ?? "?", String($0.split(separator: " ").last ?? "")) }
        #expect(targets.contains { $0.0 == "3" && $0.1.hasPrefix("socket:") }, "\(listing)")
        #expect(targets.allSatisfy { $0.1.hasPrefix("socket:") || $0.1.hasPrefix("/proc/") }, "\(listing)")
        // No variable but the PWD the shell sets itself.
        let (environment, _) = try run("env >&3")
        #expect(environment.split(separator: "\n").allSatisfy { $0.hasPrefix("PWD=") }, "\(environment)")
    }

    @Test func theChildStartsWithDefaultSignalHandlersAndNoneBlocked() throws {
        // SIGUSR1 caught here, and every signal blocked here while the child
        // starts: the child inherits neither the handler nor the mask, and this
        // thread gets its own mask back.
        signal(SIGUSR1) { _ in }
        defer { signal(SIGUSR1, SIG_DFL) }
        var before = sigset_t(), after = sigset_t()
        sigprocmask(SIG_SETMASK, nil, &before)
        let (output, exit) = try run("exec grep -E '^(SigBlk|SigCgt)' /proc/self/status >&3")
        sigprocmask(SIG_SETMASK, nil, &after)
        #expect(exit == .exited(0))
        #expect(output.contains("SigBlk:\t0000000000000000"), "\(output)")
        // grep catches no signal; SIGUSR1 is bit 9 of the mask.
        let caught = output.split(separator: "\n").first { $0.hasPrefix("SigCgt:") }
            .flatMap { UInt64($0.split(separator: "\t").last ?? "", radix: 16) } ?? 0
        #expect(caught & (1 << 9) == 0, "\(output)")
        #expect((1..<32).allSatisfy { sigismember(&before, $0) == sigismember(&after, $0) })
    }

    @Test func anExecThatFailsIsReportedWithItsErrno() throws {
        let path = "/tmp/nsebox-spawn-\(getpid())-text"
        let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o700)
        try #require(fd >= 0)
        _ = write(fd, "not a program\n", 14)
        close(fd)
        defer { unlink(path) }
        let text = try ChildExecutable(path: path)
        let pair = try SocketPair()
        var thrown: SystemError?
        do { _ = try text.spawn(rpc: pair.child, arguments: [], credentials: nil, keepStderr: false) } catch { thrown = error }
        #expect(thrown?.errno == ENOEXEC, "\(String(describing: thrown))")
        #expect(thrown?.call == "spawn(\(path))")
    }

    @Test func aChildMadeToYieldRunsBatchFiveNiceLevelsBelowItsParent() throws {
        // The child waits for a line on fd 3, so that it reads its scheduling
        // only after the yield, then sends its /proc/self/stat.
        let sh = try ChildExecutable(path: "/bin/sh")
        let pair = try SocketPair()
        let pid = try sh.spawn(rpc: pair.child, arguments: ["-c", "read go <&3; exec cat /proc/self/stat >&3"],
                               credentials: nil, keepStderr: false)
        let ours = pair.keepBrokerEnd()
        #expect(yieldToCaller(pid))
        try ours.writeAll(Array("go\n".utf8))
        var output: [UInt8] = []
        while let bytes = try ours.read(max: 4096), !bytes.isEmpty { output += bytes }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let stat = String(decoding: output, as: UTF8.self)
        let fields = stat[(stat.lastIndex(of: ")").map { stat.index(after: $0) } ?? stat.startIndex)...].split(separator: " ")
        errno = 0
        let mine = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        try #require(fields.count > 38, "\(stat)")
        #expect(Int(fields[38]) == 3 /* SCHED_BATCH */, "\(stat)")
        #expect(Int(fields[16]) == min(19, mine + 5), "\(stat)")
    }

    @Test(.enabled(if: geteuid() == 0, "only root can drop to nobody"))
    func aRootBrokersChildRunsAsNobodyAndTheBrokerStaysRoot() throws {
        let (output, exit) = try run("exec grep -E '^(Uid|Gid|Groups)' /proc/self/status >&3", credentials: .nobody)
        #expect(exit == .exited(0))
        #expect(output.contains("Uid:\t65534\t65534\t65534\t65534"), "\(output)")
        #expect(output.contains("Gid:\t65534\t65534\t65534\t65534"), "\(output)")
        let groups = output.split(separator: "\n").first { $0.hasPrefix("Groups:") } ?? "?"
        #expect(!groups.contains { $0.isNumber }, "\(output)")
        // The child changed its own credentials only (raw setuid, not glibc's,
        // which would have changed every thread of this process).
        #expect(geteuid() == 0 && getuid() == 0 && getegid() == 0)
    }
}
