/// A sandbox policy as read from a file in sandbox-policies/ (format described in
/// docs/sandbox.md). The broker parses it to reject a bad policy before anything
/// runs; the child parses the same text again and applies it.
public struct Policy: Equatable, Sendable {
    public var format: Int
    public var name: String
    /// What happens to a system call no rule names.
    public var defaultAction: SyscallAction
    public var rules: [SyscallRule]
    public var limits: [ResourceLimit]
    /// Format 2: the categories a script needs one of to run (`scripts ...`);
    /// nil runs every script.
    public var runCategories: [String]? = nil
    /// Format 2: what every script instance may do through the broker.
    public var rights = ScriptRights()
    /// Format 2: `when` lines, applied in order over `rights`.
    public var overrides: [RightsOverride] = []

    public init(format: Int = Policy.currentFormat, name: String, defaultAction: SyscallAction = .kill,
                rules: [SyscallRule] = [], limits: [ResourceLimit] = []) {
        self.format = format; self.name = name; self.defaultAction = defaultAction
        self.rules = rules; self.limits = limits
    }

    /// Format 1 has the process statements only; format 2 adds the rights the
    /// broker enforces (scripts, limit, network, raw, read, when).
    public static let currentFormat = 2
    public static let formats = 1...2
}

public enum SyscallAction: Equatable, Sendable {
    case allow
    case kill
    /// Fail the call with this errno instead of running it.
    case errno(Int32)
}

/// One syscall rule: the action applies when every condition on the arguments holds.
public struct SyscallRule: Equatable, Sendable {
    public var action: SyscallAction
    public var syscall: String
    public var conditions: [ArgumentCondition]
    public init(_ action: SyscallAction, _ syscall: String, _ conditions: [ArgumentCondition] = []) {
        self.action = action; self.syscall = syscall; self.conditions = conditions
    }
}

/// `arg<index> == value`, or `arg<index> & mask == value` (checked on all 64 bits).
public struct ArgumentCondition: Equatable, Sendable {
    public var index: Int
    public var mask: UInt64?
    public var value: UInt64
    public init(index: Int, mask: UInt64? = nil, value: UInt64) {
        self.index = index; self.mask = mask; self.value = value
    }
}

public struct ResourceLimit: Equatable, Sendable {
    public enum Resource: String, CaseIterable, Sendable {
        case cpu, `as`, nofile, nproc, fsize, core, memlock, stack
    }
    public var resource: Resource
    public var value: UInt64
    public init(_ resource: Resource, _ value: UInt64) { self.resource = resource; self.value = value }
}

extension Policy {
    /// Whether every call to `syscall` is allowed, whatever its arguments: a rule
    /// that allows it with no condition, or nothing about it and a default of allow.
    public func alwaysAllows(_ syscall: String) -> Bool {
        let named = rules.filter { $0.syscall == syscall }
        if named.contains(where: { $0.action == .allow && $0.conditions.isEmpty }) { return true }
        return named.isEmpty && defaultAction == .allow
    }

    /// Whether a call to `syscall` on descriptor `fd` (its first argument) is
    /// allowed, whatever its other arguments: as `alwaysAllows`, or a rule that
    /// allows it with `arg0 == fd` as its only condition.
    public func allows(_ syscall: String, onDescriptor fd: UInt64) -> Bool {
        alwaysAllows(syscall) || rules.contains {
            $0.syscall == syscall && $0.action == .allow
                && $0.conditions == [ArgumentCondition(index: 0, value: fd)]
        }
    }
}
