import CSandboxSys
import CSeccomp
import Glibc
import NSEPolicy
import NSESystem

/// Why the sandbox could not be set up. The child exits on any of these before a
/// line of script code runs (fail closed).
public struct SandboxError: Error, CustomStringConvertible, Sendable {
    public var step: String
    public var errno: Int32
    public init(_ step: String, errno: Int32) { self.step = step; self.errno = errno }
    public var description: String { "sandbox: \(step): \(String(cString: strerror(errno < 0 ? -errno : errno)))" }
}

/// Applies a policy to the calling process, in OpenSSH's order: resource limits,
/// then NO_NEW_PRIVS, then the seccomp filter (architecture checked first, default
/// action from the policy). There is no way back.
public enum Sandbox {
    public static func apply(_ policy: Policy) throws(SandboxError) {
        for limit in policy.limits { try setLimit(limit) }
        guard nse_set_no_new_privs() == 0 else { throw SandboxError("prctl(PR_SET_NO_NEW_PRIVS)", errno: errno) }
        try loadFilter(policy)
    }

    static func setLimit(_ limit: ResourceLimit) throws(SandboxError) {
        // Linux resource numbers (asm-generic/resource.h).
        let resource: Int32
        switch limit.resource {
        case .cpu: resource = 0
        case .fsize: resource = 1
        case .stack: resource = 3
        case .core: resource = 4
        case .nproc: resource = 6
        case .nofile: resource = 7
        case .memlock: resource = 8
        case .as: resource = 9
        }
        let v = rlim_t(limit.value) // UInt64.max is RLIM_INFINITY
        var rl = rlimit(rlim_cur: v, rlim_max: v)
        guard setrlimit(resource, &rl) == 0 else { throw SandboxError("setrlimit(\(limit.resource))", errno: errno) }
    }

    static func seccompAction(_ a: SyscallAction) -> UInt32 {
        switch a {
        case .allow: return SCMP_ACT_ALLOW
        case .kill: return SCMP_ACT_KILL_PROCESS
        case .errno(let e): return nse_scmp_act_errno(UInt16(e))
        }
    }

    static func loadFilter(_ policy: Policy, extra: [SyscallRule] = []) throws(SandboxError) {
        let ctx = try makeFilter(policy, extra: extra)
        defer { seccomp_release(ctx) }
        let rc = seccomp_load(ctx)
        guard rc == 0 else { throw SandboxError("seccomp_load", errno: rc) }
    }

    /// The policy's filter as a BPF program, for a zygote's instances to load
    /// after fork (exported through a pipe, before the zygote's own limits).
    public static func exportFilter(_ policy: Policy) throws(SandboxError) -> [UInt8] {
        let ctx = try makeFilter(policy, extra: [])
        defer { seccomp_release(ctx) }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SandboxError("pipe", errno: errno) }
        let reader = FileDescriptor(taking: fds[0])
        let writer = FileDescriptor(taking: fds[1])
        let rc = seccomp_export_bpf(ctx, writer.raw)
        writer.close() // the reader sees the end (a filter is far smaller than a pipe's buffer)
        guard rc == 0 else { throw SandboxError("seccomp_export_bpf", errno: rc) }
        var program: [UInt8] = []
        while true {
            let chunk: [UInt8]?
            do { chunk = try reader.read(max: 1 << 16) } catch { throw SandboxError("read(filter)", errno: (error as? SystemError)?.errno ?? EIO) }
            guard let chunk, !chunk.isEmpty else { break }
            program += chunk
        }
        guard !program.isEmpty, program.count % 8 == 0 else { throw SandboxError("seccomp_export_bpf", errno: EINVAL) }
        return program
    }

    /// What a zygote may do beyond its policy, and only it: fork (no threads, no
    /// namespaces), wait for and kill its own instances, wait on its socket, close
    /// the descriptors it is handed, and in a new instance, before that stacks the
    /// policy's filter on this one: take its socket as fd 3, lower RLIMIT_NPROC,
    /// ask to die with the zygote, take its name and load the filter. Everything else is the policy.
    public static let zygoteRules: [SyscallRule] = {
        // CLONE_VM | CLONE_THREAD | every CLONE_NEW* flag.
        let forbidden: UInt64 = 0x100 | 0x10000 | 0x20000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000
            | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x80
        return [
            SyscallRule(.allow, "clone", [ArgumentCondition(index: 0, mask: forbidden, value: 0)]),
            SyscallRule(.allow, "set_robust_list"),
            SyscallRule(.allow, "wait4"),
            SyscallRule(.allow, "kill"),
            SyscallRule(.allow, "ppoll"),
            SyscallRule(.allow, "rt_sigaction"),
            SyscallRule(.allow, "close"),
            SyscallRule(.allow, "dup2"),
            SyscallRule(.allow, "getppid"),
            SyscallRule(.allow, "prlimit64", [ArgumentCondition(index: 0, value: 0)]),
            SyscallRule(.allow, "setrlimit"),
            SyscallRule(.allow, "prctl", [ArgumentCondition(index: 0, value: 1)]),  // PR_SET_PDEATHSIG
            SyscallRule(.allow, "prctl", [ArgumentCondition(index: 0, value: 15)]), // PR_SET_NAME
            SyscallRule(.allow, "prctl", [ArgumentCondition(index: 0, value: 22)]), // PR_SET_SECCOMP
        ]
    }()

    /// A zygote's confinement: the policy's limits but RLIMIT_NPROC (its instances
    /// take that one), NO_NEW_PRIVS, and the policy's filter with `zygoteRules`.
    public static func applyZygote(_ policy: Policy) throws(SandboxError) {
        for limit in policy.limits where limit.resource != .nproc { try setLimit(limit) }
        guard nse_set_no_new_privs() == 0 else { throw SandboxError("prctl(PR_SET_NO_NEW_PRIVS)", errno: errno) }
        try loadFilter(policy, extra: zygoteRules.filter { rule in
            // A rule the policy already has for the same call would conflict.
            !policy.rules.contains { $0.syscall == rule.syscall && $0.action == .allow && $0.conditions.isEmpty }
        })
    }

    static func makeFilter(_ policy: Policy, extra: [SyscallRule]) throws(SandboxError) -> scmp_filter_ctx {
        guard let ctx = seccomp_init(seccompAction(policy.defaultAction)) else {
            throw SandboxError("seccomp_init", errno: ENOMEM)
        }
        do {
            try addRules(ctx, policy, extra: extra)
        } catch {
            seccomp_release(ctx)
            throw error
        }
        return ctx
    }

    private static func addRules(_ ctx: scmp_filter_ctx, _ policy: Policy, extra: [SyscallRule]) throws(SandboxError) {
        // A syscall made through another architecture's ABI kills the process.
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        guard rc == 0 else { throw SandboxError("seccomp_attr_set(BADARCH)", errno: rc) }
        // Bind every thread of the process, not just the caller.
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)
        guard rc == 0 else { throw SandboxError("seccomp_attr_set(TSYNC)", errno: rc) }
        // libseccomp refuses a rule that repeats the default action: it is redundant.
        for rule in policy.rules + extra where rule.action != policy.defaultAction {
            let nr = seccomp_syscall_resolve_name(rule.syscall)
            guard nr != __NR_SCMP_ERROR else { throw SandboxError("unknown system call '\(rule.syscall)'", errno: EINVAL) }
            var conditions = rule.conditions.map { c -> scmp_arg_cmp in
                if let mask = c.mask {
                    return scmp_arg_cmp(arg: UInt32(c.index), op: SCMP_CMP_MASKED_EQ, datum_a: mask, datum_b: c.value)
                }
                return scmp_arg_cmp(arg: UInt32(c.index), op: SCMP_CMP_EQ, datum_a: c.value, datum_b: 0)
            }
            rc = seccomp_rule_add_array(ctx, seccompAction(rule.action), nr, UInt32(conditions.count), &conditions)
            guard rc == 0 else { throw SandboxError("seccomp_rule_add(\(rule.syscall))", errno: rc) }
        }
        // The calls of every round trip are looked for first. libseccomp
        // otherwise tests a call's number against each rule's in turn, and put
        // read and write after most of the policy's other calls, in each of an
        // instance's two filters (the zygote's and its own), for every request
        // (FilterOrderTests).
        for (rank, name) in hotSyscalls.enumerated() {
            let nr = seccomp_syscall_resolve_name(name)
            rc = seccomp_syscall_priority(ctx, nr, UInt8(255 - rank))
            guard rc == 0 else { throw SandboxError("seccomp_syscall_priority(\(name))", errno: rc) }
        }
    }

    /// The round trip's calls: a request written, a wait for the reply, the reply read.
    static let hotSyscalls = ["read", "write", "poll"]
}
