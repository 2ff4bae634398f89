import Testing
import Glibc
import NSEPolicy
import NSESandbox
import Synchronization

// Every test here runs its body in a child process (an exit test): the sandbox cannot
// be undone, and a forbidden call kills the process with SIGSYS.
//
// Rules for the bodies, because the filter applies to the body's own thread and the
// shipped policy allows writes only to fd 3:
//  - everything that needs a file or a syscall the policy forbids (reading the
//    policy, building argv, ...) happens before `Sandbox.apply`;
//  - after `apply` there is no `await` (the task could resume on another thread),
//    no `#expect` (it would report over the harness's pipe, a forbidden write), no
//    `print`, and the body ends with `_exit`, never `exit` or a plain return (atexit
//    handlers and stdio flushing could make forbidden calls and turn a pass into a
//    SIGSYS, or mask one). Checks after `apply` are reported through the exit code.
//  - the minimal policies allow `futex`: the harness's idle threads wait in it, and
//    once the filter is synchronised to every thread (see the TSYNC test at the end)
//    they must not be killed or fail before the body's own call decides the outcome.

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

/// Parses and applies `text`; exits with 91 (parse) or 92 (apply) on failure, so a
/// sandbox that could not be set up never counts as the expected outcome.
func applyPolicy(_ text: String) {
    let policy: Policy
    do { policy = try PolicyParser.parse(text) } catch { _exit(91) }
    do { try Sandbox.apply(policy) } catch { _exit(92) }
}

/// Applies the shipped default policy to this process.
func applyShippedPolicy() {
    applyPolicy(shippedPolicyText())
}

/// Exit codes used by the bodies below to say which check failed after the sandbox was applied.
enum Check {
    static let survivedForbiddenCall: Int32 = 10
    static let wrongResult: Int32 = 11
    static let wrongErrno: Int32 = 12
}

// MARK: - The shipped policy kills forbidden calls

@Test func shippedPolicyKillsSocketCreationWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        _ = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsUnixSocketCreationWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        var pair: [Int32] = [-1, -1]
        _ = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsWriteToStdoutWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        let message: [UInt8] = Array("escaped\n".utf8)
        applyShippedPolicy()
        _ = message.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsWriteToStderrWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        let message: [UInt8] = Array("escaped\n".utf8)
        applyShippedPolicy()
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsExecutableMappingWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        _ = mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsMakingMemoryExecutableWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        // The writable mapping is allowed; turning it executable is not.
        guard let p = mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              p != MAP_FAILED else { _exit(Check.wrongResult) }
        _ = mprotect(p, 4096, PROT_READ | PROT_EXEC)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsSignallingAProcessWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        _ = kill(getpid(), 0)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsExecveWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        // argv and envp are built before the filter; /bin/true would exit 0 if exec ran.
        let path = strdup("/bin/true")
        let argv: [UnsafeMutablePointer<CChar>?] = [path, nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [nil]
        applyShippedPolicy()
        _ = execve(path!, argv, envp)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func shippedPolicyKillsForkWithSIGSYS() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyShippedPolicy()
        // glibc's fork() is the clone system call.
        let pid = fork()
        _exit(pid == 0 ? 0 : Check.survivedForbiddenCall)
    }
}

// MARK: - What the shipped policy still allows

@Test func shippedPolicyLetsTheChildUseMemoryClocksAndTheRPCDescriptor() async {
    await #expect(processExitsWith: .success) {
        applyShippedPolicy()
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
        // Writing to fd 3 passes the filter (zero bytes: the harness may own fd 3).
        _ = write(3, nil, 0)
        _exit(0)
    }
}

@Test func shippedPolicyMakesOpenFailWithEACCESInsteadOfKilling() async {
    await #expect(processExitsWith: .success) {
        applyShippedPolicy()
        let fd = open("/etc/passwd", O_RDONLY)
        let openErrno = errno
        guard fd == -1 else { _exit(Check.wrongResult) }
        guard openErrno == EACCES else { _exit(Check.wrongErrno) }
        _exit(0)
    }
}

@Test func shippedPolicyMakesStatFailWithEACCESInsteadOfKilling() async {
    await #expect(processExitsWith: .success) {
        var st = stat()
        applyShippedPolicy()
        let rc = stat("/etc/passwd", &st)
        let statErrno = errno
        guard rc == -1 else { _exit(Check.wrongResult) }
        guard statErrno == EACCES else { _exit(Check.wrongErrno) }
        _exit(0)
    }
}

// MARK: - Setting up the sandbox

@Test func unknownSystemCallNameMakesApplyFailClosed() async {
    await #expect(processExitsWith: .exitCode(42)) {
        let policy: Policy
        do {
            policy = try PolicyParser.parse("format 1\nname t\ndefault errno EPERM\nallow read\nallow no_such_syscall\n")
        } catch { _exit(91) }
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
    // A socket call then works, so we can tell "no filter" from "half a filter".
    await #expect(processExitsWith: .exitCode(43)) {
        let policy: Policy
        do {
            policy = try PolicyParser.parse("format 1\nname t\ndefault kill\nallow exit_group\nallow bogus_call\n")
        } catch { _exit(91) }
        do { try Sandbox.apply(policy); _exit(1) } catch {}
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _exit(fd >= 0 ? 43 : 3)
    }
}

@Test func applySetsResourceLimitsNoNewPrivsAndSeccompMode() async {
    await #expect(processExitsWith: .success) {
        // A permissive filter, so the checks after apply can read /proc and call getrlimit.
        applyPolicy("""
            format 1
            name limits
            default allow
            kill ptrace
            rlimit nofile 16
            rlimit core 0
            rlimit fsize 1M
            rlimit cpu unlimited
            """)
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &rl) == 0,
              rl.rlim_cur == 16, rl.rlim_max == 16 else { _exit(20) }
        guard getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &rl) == 0,
              rl.rlim_cur == 0, rl.rlim_max == 0 else { _exit(21) }
        guard getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &rl) == 0,
              rl.rlim_cur == 1 << 20, rl.rlim_max == 1 << 20 else { _exit(22) }
        guard getrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &rl) == 0,
              rl.rlim_cur == rlim_t.max else { _exit(23) }

        // /proc/thread-self/status: NoNewPrivs and Seccomp are per thread.
        guard let f = fopen("/proc/thread-self/status", "r") else { _exit(24) }
        var raw = [UInt8](repeating: 0, count: 8192)
        let n = fread(&raw, 1, raw.count, f)
        fclose(f)
        let status = String(decoding: raw[..<n], as: UTF8.self)
        guard status.contains("NoNewPrivs:\t1\n") else { _exit(25) }
        guard status.contains("Seccomp:\t2\n") else { _exit(26) }  // SECCOMP_MODE_FILTER
        _exit(0)
    }
}

@Test func nofileLimitOfTheShippedPolicyIsInForce() async {
    // With rlimit nofile 4 and a filter that allows openat, a new descriptor numbered
    // 4 or above cannot be created.
    await #expect(processExitsWith: .exitCode(44)) {
        // Occupy 0...3 so the lowest free descriptor is at least 4.
        for fd in Int32(0)...3 where fcntl(fd, F_GETFD) == -1 { _ = open("/dev/null", O_RDONLY) }
        applyPolicy("format 1\nname t\ndefault allow\nkill ptrace\nrlimit nofile 4\n")
        let fd = open("/dev/null", O_RDONLY)
        let e = errno
        _exit(fd == -1 && e == EMFILE ? 44 : 4)
    }
}

// MARK: - Other actions and conditions

@Test func errnoDefaultActionFailsUnlistedCallsWithoutKilling() async {
    await #expect(processExitsWith: .exitCode(45)) {
        applyPolicy("format 1\nname t\ndefault errno EPERM\nallow futex\nallow exit_group\nallow exit\n")
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let e = errno
        _exit(fd == -1 && e == EPERM ? 45 : 5)
    }
}

@Test func explicitKillRuleKillsUnderAnErrnoDefault() async {
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyPolicy("format 1\nname t\ndefault errno EPERM\nallow futex\nallow exit_group\nkill getppid\n")
        _ = getppid()
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func equalityConditionOnlyAllowsTheNamedDescriptor() async {
    // `allow dup arg0 == 0`: dup(0) passes (and may fail with EBADF, which is fine); dup(1) is killed.
    await #expect(processExitsWith: .signal(SIGSYS)) {
        applyPolicy("format 1\nname t\ndefault kill\nallow futex\nallow exit_group\nallow dup arg0 == 0\n")
        let r = dup(0)
        if r == -1 && errno != EBADF { _exit(Check.wrongErrno) }
        _ = dup(1)
        _exit(Check.survivedForbiddenCall)
    }
}

@Test func equalityConditionLetsTheNamedDescriptorThrough() async {
    await #expect(processExitsWith: .exitCode(46)) {
        applyPolicy("format 1\nname t\ndefault kill\nallow futex\nallow exit_group\nerrno ENOSYS dup arg0 == 0\n")
        let r = dup(0)
        let e = errno
        _exit(r == -1 && e == ENOSYS ? 46 : 6)
    }
}

// MARK: - Known bugs (see report)

/// `kill ptrace` under `default kill` is redundant but valid policy text (the parser,
/// and so the broker's check, accept it); libseccomp refuses a rule whose action equals
/// the filter's default with -EACCES, so `Sandbox.apply` throws and the child never starts.
@Test func ruleRepeatingTheDefaultActionDoesNotBreakApply() async {
    await withKnownIssue("seccomp_rule_add returns -EACCES for a rule with the default action") {
        await #expect(processExitsWith: .exitCode(48)) {
            let policy: Policy
            do {
                policy = try PolicyParser.parse("format 1\nname t\ndefault kill\nallow futex\nallow exit_group\nkill ptrace\n")
            } catch { _exit(91) }
            do { try Sandbox.apply(policy) } catch { _exit(8) }
            _exit(48)
        }
    }
}

/// Set when the helper thread of the test below may make its forbidden call.
let helperThreadMayGo = Atomic<Int>(0)

/// `Sandbox.apply` loads the filter without SCMP_FLTATR_CTL_TSYNC, so it binds only the
/// calling thread: a thread that already exists keeps full access to the kernel.
@Test func filterAlsoBindsThreadsThatAlreadyExist() async {
    await withKnownIssue("filter loaded without TSYNC applies to the calling thread only") {
        await #expect(processExitsWith: .signal(SIGSYS)) {
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { _ in
                while helperThreadMayGo.load(ordering: .acquiring) == 0 { sched_yield() }
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                _exit(fd >= 0 ? 47 : 7)     // 47: the thread was not filtered
            }, nil)
            guard rc == 0 else { _exit(93) }
            applyShippedPolicy()
            helperThreadMayGo.store(1, ordering: .releasing)
            while true { sched_yield() }     // allowed; the helper ends the process
        }
    }
}
