import Testing
import Glibc
import NSEPolicy
import NSESandbox
import Synchronization
import CSandboxSys
import CSyscallProbe

// Every test here runs its body in a child process (an exit test): the sandbox cannot
// be undone, and a forbidden call kills the process with SIGSYS.
//
// The exit-test process is multi-threaded (Swift Testing's task, Dispatch workers, an
// epoll thread, the main thread in rt_sigsuspend). Today the filter binds only the
// thread that loads it, but once it binds every thread (TSYNC, see the last test) a
// harness thread waking up under `default kill` would kill the process and make a
// test pass or fail by chance. So the bodies apply the sandbox in a forked,
// single-threaded grandchild (`sandboxed`), and the exit-test process ends exactly as
// the grandchild did (same exit code, or the same signal re-raised).
//
// Rules for code after `Sandbox.apply`, because the shipped policy allows writes only
// to fd 3 and no file access: no `#expect` (it reports over the harness's pipe), no
// `print`, and end with `_exit`, never `exit` or a return (atexit handlers and stdio
// flushing could make forbidden calls). Checks after `apply` report through the exit code.

// MARK: - Helpers (called inside the exit-test bodies; they capture nothing)

/// The text of sandbox-policies/default.policy, read before the sandbox is applied.
/// Exits with 90 when the file cannot be read, so a missing file is not mistaken for a pass.
func shippedPolicyText(_ file: String = #filePath) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)     // Tests/NSESandboxTests/<this file>
    let path = parts.joined(separator: "/") + "/sandbox-policies/default.policy"
    guard let f = fopen(path, "rb") else { _exit(90) }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Parses `text`, exiting with 91 when it does not parse.
func parsePolicy(_ text: String) -> Policy {
    do { return try PolicyParser.parse(text) } catch { _exit(91) }
}

/// A small policy: `defaultAction`, the calls every body needs to end, then `rules`.
func minimalPolicy(_ defaultAction: String, _ rules: String) -> String {
    "format 1\nname minimal\ndefault \(defaultAction)\nallow exit\nallow exit_group\n" + rules
}

/// Forks; the single-threaded child applies `policyText` (exit 92 if that fails) and
/// runs `body`. This process waits and then ends the way the child ended: the same
/// exit code, or the same signal (re-raised with core dumps off).
func sandboxed(_ policyText: String, _ body: () -> Never) -> Never {
    let policy = parsePolicy(policyText)
    let pid = fork()
    if pid == 0 {
        do { try Sandbox.apply(policy) } catch { _exit(92) }
        body()
    }
    guard pid > 0 else { _exit(94) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 {
        if errno != EINTR { _exit(95) }
    }
    let signal = status & 0x7f
    if signal == 0 { _exit((status >> 8) & 0xff) }
    var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
    _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
    var only = sigset_t()
    sigemptyset(&only)
    sigaddset(&only, signal)
    pthread_sigmask(SIG_UNBLOCK, &only, nil)
    Glibc.signal(signal, SIG_DFL)
    // To this thread (unblocked above), so it is delivered before pthread_kill returns.
    pthread_kill(pthread_self(), signal)
    _exit(96)
}

/// Exit codes the bodies use to say which check failed after the sandbox was applied.
enum Check {
    static let survivedForbiddenCall: Int32 = 10
    static let wrongResult: Int32 = 11
    static let wrongErrno: Int32 = 12
}

// MARK: - The shipped policy kills forbidden calls

@Test func shippedPolicyKillsSocketCreationWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            _ = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsUnixSocketPairCreationWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        var pair: [Int32] = [-1, -1]
        sandboxed(shippedPolicyText()) {
            _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsWriteToStdoutWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        let message: [UInt8] = Array("escaped\n".utf8)
        sandboxed(shippedPolicyText()) {
            _ = message.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsWriteToStderrWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        let message: [UInt8] = Array("escaped\n".utf8)
        sandboxed(shippedPolicyText()) {
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsExecutableMappingWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            _ = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsWritableExecutableMappingWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            _ = mmap(nil, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsMakingMemoryExecutableWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            // The writable mapping is allowed; turning it executable is not.
            guard let p = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != MAP_FAILED else { _exit(Check.wrongResult) }
            _ = mprotect(p, 4096, PROT_READ | PROT_EXEC)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsSignallingAProcessWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            _ = kill(getppid(), 0)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsExecveWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        // argv and envp are built before the filter; /bin/true would exit 0 if exec ran.
        let path = strdup("/bin/true")!
        let argv: [UnsafeMutablePointer<CChar>?] = [path, nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        sandboxed(shippedPolicyText()) {
            _ = execve(path, argv, envp)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func shippedPolicyKillsForkWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(shippedPolicyText()) {
            // glibc's fork() is the clone system call.
            let pid = fork()
            _exit(pid == 0 ? 0 : Check.survivedForbiddenCall)
        }
    }
}

// MARK: - What the shipped policy still allows

@Test func shippedPolicyLetsTheChildUseMemoryClocksAndTheRPCDescriptor() async {
    await #expect(processExitsWith: .success) {
        sandboxed(shippedPolicyText()) {
            // Anonymous read/write memory: the PROT_EXEC mask condition lets this through.
            guard let p = mmap(nil, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != MAP_FAILED else { _exit(Check.wrongResult) }
            p.storeBytes(of: 42, as: UInt8.self)
            guard mprotect(p, 1 << 20, PROT_READ) == 0, munmap(p, 1 << 20) == 0 else { _exit(Check.wrongResult) }
            // Swift heap allocation (malloc: brk/mmap).
            let big = [UInt8](repeating: 7, count: 4 << 20)
            guard big.count == 4 << 20 else { _exit(Check.wrongResult) }
            var ts = timespec()
            guard clock_gettime(CLOCK_MONOTONIC, &ts) == 0, getpid() > 0 else { _exit(Check.wrongResult) }
            // Reading and writing fd 3 pass the filter (zero bytes: the harness may own fd 3).
            _ = write(3, nil, 0)
            _ = read(3, nil, 0)
            _exit(0)
        }
    }
}

@Test func shippedPolicyMakesOpenFailWithEACCESInsteadOfKilling() async {
    await #expect(processExitsWith: .success) {
        sandboxed(shippedPolicyText()) {
            let fd = open("/etc/passwd", O_RDONLY)
            let openErrno = errno
            guard fd == -1 else { _exit(Check.wrongResult) }
            guard openErrno == EACCES else { _exit(Check.wrongErrno) }
            _exit(0)
        }
    }
}

@Test func shippedPolicyMakesStatFailWithEACCESInsteadOfKilling() async {
    await #expect(processExitsWith: .success) {
        var st = stat()
        sandboxed(shippedPolicyText()) {
            let rc = stat("/etc/passwd", &st)
            let statErrno = errno
            guard rc == -1 else { _exit(Check.wrongResult) }
            guard statErrno == EACCES else { _exit(Check.wrongErrno) }
            _exit(0)
        }
    }
}

// MARK: - Setting up the sandbox

@Test func unknownSystemCallNameMakesApplyFailClosed() async {
    await #expect(processExitsWith: .exitCode(42)) {
        let policy = parsePolicy("format 1\nname t\ndefault errno EPERM\nallow read\nallow no_such_syscall\n")
        do throws(SandboxError) {
            try Sandbox.apply(policy)
            _exit(1)    // applied a filter that silently lacks a rule
        } catch {
            _exit(error.step.contains("no_such_syscall") && error.errno == EINVAL ? 42 : 2)
        }
    }
}

@Test func failedApplyLoadsNoFilter() async {
    // After a failed apply nothing is filtered (the caller must exit; ChildMain does).
    // A socket call then works, so "no filter" is told apart from "half a filter".
    await #expect(processExitsWith: .exitCode(43)) {
        let policy = parsePolicy(minimalPolicy("kill", "allow bogus_call\n"))
        do { try Sandbox.apply(policy); _exit(1) } catch {}
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _exit(fd >= 0 ? 43 : 3)
    }
}

@Test func applySetsResourceLimitsNoNewPrivsAndSeccompMode() async {
    await #expect(processExitsWith: .success) {
        // A permissive filter, so the checks after apply can read /proc and call getrlimit.
        sandboxed("""
            format 1
            name limits
            default allow
            kill ptrace
            rlimit nofile 16
            rlimit core 0
            rlimit fsize 1M
            rlimit cpu unlimited
            """) {
            var rl = rlimit()
            guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0,
                  rl.rlim_cur == 16, rl.rlim_max == 16 else { _exit(20) }
            guard getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &rl) == 0,
                  rl.rlim_cur == 0, rl.rlim_max == 0 else { _exit(21) }
            guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &rl) == 0,
                  rl.rlim_cur == 1 << 20, rl.rlim_max == 1 << 20 else { _exit(22) }
            guard getrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &rl) == 0,
                  rl.rlim_cur == rlim_t.max else { _exit(23) }

            guard let f = fopen("/proc/self/status", "r") else { _exit(24) }
            var raw = [UInt8](repeating: 0, count: 8192)
            let n = fread(&raw, 1, raw.count, f)
            fclose(f)
            let status = String(decoding: raw[..<n], as: UTF8.self)
            guard status.contains("NoNewPrivs:\t1\n") else { _exit(25) }
            guard status.contains("Seccomp:\t2\n") else { _exit(26) }  // SECCOMP_MODE_FILTER
            _exit(0)
        }
    }
}

@Test func nofileLimitStopsNewDescriptorsAtTheLimit() async {
    // With rlimit nofile 4 and a filter that allows openat, no descriptor numbered 4
    // or above can be created.
    await #expect(processExitsWith: .exitCode(44)) {
        sandboxed("format 1\nname t\ndefault allow\nkill ptrace\nrlimit nofile 4\n") {
            // Fill 0...3 so the lowest free descriptor is at least 4.
            for fd in Int32(0)...3 where fcntl(fd, F_GETFD) == -1 { _ = open("/dev/null", O_RDONLY) }
            let fd = open("/dev/null", O_RDONLY)
            let e = errno
            _exit(fd == -1 && e == EMFILE ? 44 : 4)
        }
    }
}

// MARK: - Other actions and conditions

@Test func errnoDefaultActionFailsUnlistedCallsWithoutKilling() async {
    await #expect(processExitsWith: .exitCode(45)) {
        sandboxed(minimalPolicy("errno EPERM", "")) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            let e = errno
            _exit(fd == -1 && e == EPERM ? 45 : 5)
        }
    }
}

@Test func explicitKillRuleKillsUnderAnErrnoDefault() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(minimalPolicy("errno EPERM", "kill getppid\n")) {
            _ = getppid()
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func equalityConditionKillsOtherDescriptors() async {
    // `allow dup arg0 == 0`: dup(0) passes; dup(1) is killed.
    await #expect(processExitsWith: .signal(SIGSYS)) {
        sandboxed(minimalPolicy("kill", "allow dup arg0 == 0\n")) {
            let r = dup(0)
            if r == -1 && errno != EBADF { _exit(Check.wrongErrno) }
            _ = dup(1)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

@Test func equalityConditionAppliesTheRuleToTheNamedDescriptor() async {
    await #expect(processExitsWith: .exitCode(46)) {
        sandboxed(minimalPolicy("kill", "errno ENOSYS dup arg0 == 0\n")) {
            let r = dup(0)
            let e = errno
            _exit(r == -1 && e == ENOSYS ? 46 : 6)
        }
    }
}

@Test func maskedConditionChecksOnlyTheMaskedBits() async {
    // `allow mmap arg2 & PROT_EXEC == 0`: any protection without PROT_EXEC passes,
    // including PROT_NONE and PROT_READ | PROT_WRITE.
    await #expect(processExitsWith: .exitCode(47)) {
        sandboxed(minimalPolicy("errno ENOSYS", "allow mmap arg2 & PROT_EXEC == 0\n")) {
            for prot in [PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE] {
                let p = mmap(nil, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                if p == MAP_FAILED { _exit(7) }
            }
            let x = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            let e = errno
            _exit(x == MAP_FAILED && e == ENOSYS ? 47 : 8)
        }
    }
}

// MARK: - Regression tests for bugs found and fixed

/// `kill ptrace` under `default kill` is redundant but valid policy text (the parser,
/// and so the broker's check, accept it); libseccomp refuses a rule whose action equals
/// the filter's default with -EACCES, so `Sandbox.apply` throws and the child never starts.
@Test func ruleRepeatingTheDefaultActionDoesNotBreakApply() async {
    do {
        await #expect(processExitsWith: .exitCode(48)) {
            sandboxed(minimalPolicy("kill", "kill ptrace\n")) {
                _exit(48)
            }
        }
    }
}

/// Set when the helper thread of the test below may make its forbidden call.
let helperThreadMayGo = Atomic<Int>(0)

/// Without SCMP_FLTATR_CTL_TSYNC the filter would bind only the calling thread: a
/// thread that already exists would keep full access to the kernel.
/// (In-process on purpose: this is about threads.)
@Test func filterAlsoBindsThreadsThatAlreadyExist() async {
    do {
        await #expect(processExitsWith: .signal(SIGSYS)) {
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { _ in
                while helperThreadMayGo.load(ordering: .acquiring) == 0 { sched_yield() }
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                _exit(fd >= 0 ? 49 : 9)     // 49: the thread was not filtered
            }, nil)
            guard rc == 0 else { _exit(93) }
            let policy = parsePolicy(shippedPolicyText())
            do { try Sandbox.apply(policy) } catch { _exit(92) }
            helperThreadMayGo.store(1, ordering: .releasing)
            while true { sched_yield() }     // allowed; the helper ends the process
        }
    }
}

// MARK: - One death test per forbidden system call

/// System calls the shipped policy does not name, so its `default kill` applies.
let forbiddenCalls = [
    "socket", "socketpair", "connect", "bind", "listen", "accept4", "sendfile",
    "execve", "execveat", "fork", "vfork", "clone", "clone3",
    "kill", "tkill", "tgkill", "ptrace", "process_vm_readv", "process_vm_writev",
    "mount", "umount2", "unshare", "setns", "chroot", "pivot_root",
    "setuid", "setgid", "setresuid", "capset", "prctl", "seccomp", "bpf",
    "perf_event_open", "keyctl", "add_key", "ioctl", "userfaultfd", "io_uring_setup",
    "memfd_create", "mknod", "symlink", "unlink", "rename", "mkdir", "chmod", "chown",
    "truncate", "init_module", "finit_module", "reboot", "kexec_load", "sethostname",
    "syslog", "personality", "pipe2", "dup", "dup3", "splice", "inotify_init1",
    "eventfd2", "timerfd_create", "signalfd4", "getdents64", "sysinfo", "uname",
    "nanosleep", "getuid", "getppid", "setsockopt", "getsockname", "select", "pselect6",
]

/// Each call, made by the C helper straight through syscall(2) with all-zero
/// arguments after the shipped policy is applied as in the child, kills the
/// process with SIGSYS: seccomp runs before the kernel looks at the arguments.
@Test(arguments: forbiddenCalls)
func shippedPolicyKillsForbiddenCall(_ name: String) async throws {
    let number: Int = nse_probe_number(name)
    try #require(number >= 0, "\(name) is not in the probe's table")
    await #expect(processExitsWith: .signal(SIGSYS), "\(name)") { [number = number as Int] in
        sandboxed(shippedPolicyText()) {
            _ = nse_probe_call(number)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

/// The list above is about the shipped policy: none of its calls is named there.
@Test func forbiddenCallsAreNotNamedByTheShippedPolicy() throws {
    let policy = try PolicyParser.parse(shippedPolicyText())
    let named = Set(policy.rules.map(\.syscall))
    #expect(policy.defaultAction == .kill)
    #expect(named.isDisjoint(with: forbiddenCalls), "\(named.intersection(forbiddenCalls))")
}

// MARK: - The zygote and the instances it forks

/// Like `sandboxed`, but confined as a zygote confines an instance: the grandchild
/// applies the zygote's variant of the policy, then forks with `nse_zygote_fork`
/// (the instance stacks the policy's own filter, exported before), and `body` runs
/// in the instance, on the instance's own stack as the zygote's loop starts it. The grandchild exits with the instance's exit code, or with
/// 100 + its signal (so a zygote killed by its own call is not mistaken for it).
/// `name`: what the broker would write first on the instance's socket (nil: the
/// socket is closed instead, with nothing written; otherwise it stays open).
func forkedFromZygote(_ policyText: String, name: [UInt8]? = Array("instance".utf8) + [UInt8](repeating: 0, count: 8),
                      _ body: () -> Never) -> Never {
    // Written, as the broker would, before the zygote confines itself.
    let prelude: (Int32) -> Void = { peer in
        guard let name else { close(peer); return }
        guard write(peer, name, name.count) == name.count else { _exit(97) }
    }
    sandboxedAsZygote(policyText, prelude: prelude) { filter, socket, _ in
        let pid = withoutActuallyEscaping(body) { body in
            instanceBody = body
            defer { instanceBody = nil }
            return filter.withUnsafeBytes { nse_zygote_fork(socket, $0.baseAddress, $0.count, 0, runInstanceBody) }
        }
        guard pid > 0 else { _exit(98) }
        var status: Int32 = 0
        while wait4(pid, &status, 0, nil) == -1 { if errno != EINTR { _exit(95) } }
        if status & 0x7f == 0 { _exit((status >> 8) & 0xff) }
        _exit(100 + (status & 0x7f))
    }
}

/// The instance's `body` for `forkedFromZygote` (the forked instance runs it).
nonisolated(unsafe) private var instanceBody: (() -> Never)?
private let runInstanceBody: @convention(c) () -> Void = { instanceBody?() ?? _exit(99) }

/// Forks; the single-threaded child exports the policy's filter, makes a socket
/// for an instance, applies the zygote's confinement (exit 92 if any fails) and
/// runs `body` with the filter, the socket and the socket's other end (given to
/// `prelude` first, before the confinement).
func sandboxedAsZygote(_ policyText: String, prelude: (Int32) -> Void = { _ in },
                       _ body: ([UInt8], Int32, Int32) -> Never) -> Never {
    let policy = parsePolicy(policyText)
    let pid = fork()
    if pid == 0 {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { _exit(92) }
        prelude(fds[0])
        let filter: [UInt8]
        do {
            filter = try Sandbox.exportFilter(policy)
            try Sandbox.applyZygote(policy)
        } catch { _exit(92) }
        body(filter, fds[1], fds[0])
    }
    guard pid > 0 else { _exit(94) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 { if errno != EINTR { _exit(95) } }
    if status & 0x7f == 0 { _exit((status >> 8) & 0xff) }
    var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
    _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
    Glibc.signal(status & 0x7f, SIG_DFL)
    var only = sigset_t()
    sigemptyset(&only)
    sigaddset(&only, status & 0x7f)
    pthread_sigmask(SIG_UNBLOCK, &only, nil)
    pthread_kill(pthread_self(), status & 0x7f)
    _exit(96)
}

/// The calls only a zygote may make.
let zygoteOnlyCalls = ["clone", "wait4", "kill", "ppoll", "rt_sigaction", "dup2", "getppid", "prlimit64",
                       "setrlimit", "prctl", "set_robust_list"]

/// A zygote may fork and wait (else it could not serve), under the shipped policy.
@Test func aZygoteMayForkAndWaitForItsInstance() async {
    await #expect(processExitsWith: .exitCode(7)) {
        sandboxedAsZygote(shippedPolicyText()) { _, _, _ in
            let pid = fork()
            if pid == 0 { _exit(7) }
            var status: Int32 = 0
            guard pid > 0, wait4(pid, &status, 0, nil) == pid else { _exit(Check.wrongResult) }
            _exit((status >> 8) & 0xff)
        }
    }
}

/// What the zygote may do beyond the policy, its instances may not: each of those
/// calls, and every call the shipped policy forbids, kills an instance with SIGSYS.
@Test(.timeLimit(.minutes(10)), arguments: zygoteOnlyCalls + forbiddenCalls)
func anInstanceForkedFromTheZygoteIsKilledByTheCallsThePolicyForbids(_ name: String) async throws {
    let number: Int = nse_probe_number(name)
    try #require(number >= 0, "\(name) is not in the probe's table")
    await #expect(processExitsWith: .exitCode(100 + SIGSYS), "\(name)") { [number = number as Int] in
        forkedFromZygote(shippedPolicyText()) {
            _ = nse_probe_call(number)
            _exit(Check.survivedForbiddenCall)
        }
    }
}

/// An instance reads its 16 bytes of name from its socket (the broker writes them
/// when a job takes it, possibly long after the fork), then stacks the policy's
/// filter: a forbidden call after it kills it. A socket that ends before a name
/// comes ends the instance quietly, before it runs anything.
@Test func anInstanceTakesItsNameThenThePolicysFilter() async {
    await #expect(processExitsWith: .exitCode(100 + SIGSYS)) {
        // The name, then one byte of what would be its hello.
        let name = Array("pooled#1".utf8) + [UInt8](repeating: 0, count: 8) + [42]
        forkedFromZygote(shippedPolicyText(), name: name) {
            var byte: UInt8 = 0
            guard read(3, &byte, 1) == 1, byte == 42 else { _exit(Check.wrongResult) }  // the name was taken
            _ = nse_probe_call(nse_probe_number("socket"))
            _exit(Check.survivedForbiddenCall)
        }
    }
    await #expect(processExitsWith: .exitCode(0)) {
        forkedFromZygote(shippedPolicyText(), name: nil) { _exit(Check.wrongResult) }
    }
}

/// An instance still has what the policy allows: its fd 3, memory, clocks.
@Test func anInstanceForkedFromTheZygoteKeepsWhatThePolicyAllows() async {
    await #expect(processExitsWith: .success) {
        forkedFromZygote(shippedPolicyText()) {
            var byte: UInt8 = 1
            guard write(3, &byte, 1) == 1 else { _exit(Check.wrongResult) }
            guard let p = mmap(nil, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  p != MAP_FAILED else { _exit(Check.wrongResult) }
            var ts = timespec()
            guard clock_gettime(CLOCK_MONOTONIC, &ts) == 0 else { _exit(Check.wrongResult) }
            _exit(0)
        }
    }
}
