import NSEWire

/// nmap.registry and every host.registry, kept by the broker.
///
/// nmap runs all scripts as coroutines of one Lua state, so a script's registry
/// reads and writes between two yield points can never interleave with another
/// script's. Across processes the broker gives the same guarantee with one lock:
/// a child acquires it (and a copy of a scope) at its first registry access, and
/// gives it back, with the scope's new contents, at its next yield point. Waiters
/// are served first come, first served. A child that dies holding the lock loses
/// its unsent changes, as a script that errors in nmap keeps what it had written
/// only because it wrote in place — documented in docs/engine.md.
public final class RegistryStore {
    public typealias Holder = ObjectIdentifier

    private(set) var scopes: [String: Value] = [:]
    private var owner: Holder?
    private var ownerScopes: Set<String> = []
    private var waiting: [(holder: Holder, scope: String, grant: (Value) -> Void)] = []

    public init() {}

    /// The contents of a scope as last released.
    public func contents(_ scope: String) -> Value { scopes[scope] ?? .table([]) }

    /// Grants `scope` to `holder` now if the lock is free or already theirs,
    /// otherwise when it becomes free.
    public func acquire(_ holder: Holder, scope: String, grant: @escaping (Value) -> Void) {
        if owner == nil || owner == holder {
            owner = holder
            ownerScopes.insert(scope)
            grant(contents(scope))
        } else {
            waiting.append((holder, scope, grant))
        }
    }

    /// Stores what the holder left in `scope`; the lock passes on once the holder
    /// has given back every scope it took.
    public func release(_ holder: Holder, scope: String, contents: Value) {
        guard owner == holder, ownerScopes.contains(scope) else { return }
        if case .table = contents { scopes[scope] = contents }
        ownerScopes.remove(scope)
        if ownerScopes.isEmpty { passOn() }
    }

    /// The holder is gone: drop its claim and its place in the queue.
    public func abandon(_ holder: Holder) {
        waiting.removeAll { $0.holder == holder }
        if owner == holder {
            ownerScopes = []
            passOn()
        }
    }

    private func passOn() {
        owner = nil
        guard !waiting.isEmpty else { return }
        let next = waiting[0].holder
        owner = next
        // Grant every queued request of the new owner at once.
        let mine = waiting.filter { $0.holder == next }
        waiting.removeAll { $0.holder == next }
        for w in mine {
            ownerScopes.insert(w.scope)
            w.grant(contents(w.scope))
        }
    }
}
