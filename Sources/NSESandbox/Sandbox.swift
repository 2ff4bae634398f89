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

    static func loadFilter(_ policy: Policy) throws(SandboxError) {
        guard let ctx = seccomp_init(seccompAction(policy.defaultAction)) else {
            throw SandboxError("seccomp_init", errno: ENOMEM)
        }
        defer { seccomp_release(ctx) }
        // A syscall made through another architecture's ABI kills the process.
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)
        guard rc == 0 else { throw SandboxError("seccomp_attr_set(BADARCH)", errno: rc) }
        // Bind every thread of the process, not just the caller.
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)
        guard rc == 0 else { throw SandboxError("seccomp_attr_set(TSYNC)", errno: rc) }
        // libseccomp refuses a rule that repeats the default action: it is redundant.
        for rule in policy.rules where rule.action != policy.defaultAction {
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
        rc = seccomp_load(ctx)
        guard rc == 0 else { throw SandboxError("seccomp_load", errno: rc) }
    }
}
