import NSEWire

/// nmap.registry and every host.registry, kept by the broker.
///
/// nmap runs all scripts as coroutines of one Lua state, so a script's registry
/// reads and writes between two yield points can never interleave with another
/// script's. Across processes the broker gives the same guarantee with a lock per
/// scope: a child acquires a scope (and a copy of it) at its first access to it,
/// and gives back every scope it took, with their new contents, at its next yield
/// point. Segments that touch different scopes run at once, as scripts on
/// different hosts do; segments that share a scope take turns, first come, first
/// served.
///
/// A process touches at most two scopes, "global" and its own host's. The global
/// scope is granted only together with the holder's own host scope (`with`), so
/// a process holding the global scope holds everything it could ask for and never
/// waits, and one holding only its host scope waits only for a global holder:
/// no cycle of waits can form. (Queued requests keep later ones from taking what
/// they wait for, except a holder's: it goes first, as they may wait for it.)
///
/// A child that dies holding scopes loses its unsent changes, as a script that
/// errors in nmap keeps what it had written only because it wrote in place —
/// documented in docs/engine.md.
public final class RegistryStore {
    public typealias Holder = ObjectIdentifier

    private(set) var scopes: [String: Value] = [:]
    /// Who holds each locked scope.
    private var owners: [String: Holder] = [:]
    /// The scopes each holder took and has not given back; its locks (these and
    /// the host scope that came with the global one) pass on when it has none left.
    private var taken: [Holder: Set<String>] = [:]
    private struct Request {
        let holder: Holder
        let scope: String
        let needs: [String]
        let grant: (Value) -> Void
    }
    private var waiting: [Request] = []

    public init() {}

    /// The contents of a scope as last released.
    public func contents(_ scope: String) -> Value { scopes[scope] ?? .table([]) }

    /// Grants `scope` to `holder` now if it (and `companion`, the holder's own host
    /// scope when `scope` is the global one) is free or already theirs and no
    /// earlier request waits for it; otherwise when that is so.
    public func acquire(_ holder: Holder, scope: String, with companion: String? = nil,
                        grant: @escaping (Value) -> Void) {
        let request = Request(holder: holder, scope: scope, needs: [scope] + (companion.map { [$0] } ?? []), grant: grant)
        if isFree(request.needs, for: holder, reserved: reservations(before: waiting.endIndex)) {
            take(request)
        } else {
            waiting.append(request)
        }
    }

    /// Lends `scope` (with `companion`, as `acquire`) only if that needs no wait:
    /// a mutex named after a registry table brings the table's scope with the
    /// lock. Nil when it would wait.
    public func lendIfFree(_ holder: Holder, scope: String, with companion: String? = nil) -> Value? {
        let needs = [scope] + (companion.map { [$0] } ?? [])
        guard isFree(needs, for: holder, reserved: reservations(before: waiting.endIndex)) else { return nil }
        var lent: Value?
        take(Request(holder: holder, scope: scope, needs: needs) { lent = $0 })
        return lent
    }

    /// Stores what the holder left in `scope`; its locks pass on once it has
    /// given back every scope it took.
    public func release(_ holder: Holder, scope: String, contents: Value) {
        guard taken[holder]?.contains(scope) == true else { return }
        if case .table = contents { scopes[scope] = contents }
        taken[holder]?.remove(scope)
        if taken[holder]?.isEmpty == true { unlock(holder) }
    }

    /// The holder is gone: drop its claims and its place in the queue.
    public func abandon(_ holder: Holder) {
        waiting.removeAll { $0.holder == holder }
        unlock(holder)
    }

    /// Whether `holder` can have `needs` now. A holder that already holds a scope
    /// goes before queued requests: they may be waiting for what it holds.
    private func isFree(_ needs: [String], for holder: Holder, reserved: Set<String>) -> Bool {
        let holding = taken[holder]?.isEmpty == false
        return needs.allSatisfy { s in
            if let owner = owners[s] { return owner == holder }
            return holding || !reserved.contains(s)
        }
    }

    /// What the requests queued before `index` wait for: a later request may not
    /// take it first, so that none waits for ever.
    private func reservations(before index: Int) -> Set<String> {
        var out: Set<String> = []
        for r in waiting[..<index] { out.formUnion(r.needs) }
        return out
    }

    private func take(_ r: Request) {
        for s in r.needs { owners[s] = r.holder }
        taken[r.holder, default: []].insert(r.scope)
        r.grant(contents(r.scope))
    }

    private func unlock(_ holder: Holder) {
        taken[holder] = nil
        let mine = owners.filter { $0.value == holder }.map(\.key)
        guard !mine.isEmpty else { return }
        for s in mine { owners[s] = nil }
        // Serve the queue in order: each request that can go now goes; one that
        // cannot keeps what it waits for from the requests behind it.
        var reserved: Set<String> = []
        var i = 0
        while i < waiting.count {
            let r = waiting[i]
            if isFree(r.needs, for: r.holder, reserved: reserved) {
                waiting.remove(at: i)
                take(r)
            } else {
                reserved.formUnion(r.needs)
                i += 1
            }
        }
    }
}
