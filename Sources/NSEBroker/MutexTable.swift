/// nmap.mutex objects whose key is a string: in nmap every script shares them (one
/// Lua state), so across processes the broker holds them. Waiters are granted in
/// the order they asked; a holder that dies releases what it held.
public final class MutexTable {
    /// A script thread: the child session and the thread's number in it.
    public struct Holder: Hashable {
        public var session: ObjectIdentifier
        public var thread: Int64
    }

    private var owners: [String: Holder] = [:]
    private var waiting: [String: [(Holder, () -> Void)]] = [:]

    public init() {}

    /// Grants now if free (or already the caller's), else when it is released.
    public func lock(_ key: String, by holder: Holder, granted: @escaping () -> Void) {
        if owners[key] == nil || owners[key] == holder {
            owners[key] = holder
            granted()
        } else {
            waiting[key, default: []].append((holder, granted))
        }
    }

    /// Takes the mutex only if nobody holds it (its holder included, as in nmap).
    public func tryLock(_ key: String, by holder: Holder) -> Bool {
        guard owners[key] == nil else { return false }
        owners[key] = holder
        return true
    }

    public func unlock(_ key: String, by holder: Holder) {
        guard owners[key] == holder else { return }
        passOn(key)
    }

    /// Releases every mutex a session holds and drops its waiters.
    public func abandon(session: ObjectIdentifier) {
        for key in waiting.keys { waiting[key]?.removeAll { $0.0.session == session } }
        for (key, owner) in owners where owner.session == session { passOn(key) }
    }

    private func passOn(_ key: String) {
        owners[key] = nil
        guard var queue = waiting[key], !queue.isEmpty else { waiting[key] = nil; return }
        let (next, grant) = queue.removeFirst()
        waiting[key] = queue.isEmpty ? nil : queue
        owners[key] = next
        grant()
    }
}
