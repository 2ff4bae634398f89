/// What one script instance may do through the broker (policy format 2): the
/// broker checks every request against these, whatever the child claims. The
/// seccomp rules and rlimits of a policy confine the process; these confine what
/// the broker does for it.
public struct ScriptRights: Equatable, Sendable {
    /// Wall-clock seconds an instance may live; the broker then ends it.
    public var wallSeconds: Double? = nil
    /// Sockets open at once.
    public var sockets: Int = 256
    /// Bytes sent and received over all its sockets.
    public var sentBytes: UInt64? = nil
    public var receivedBytes: UInt64? = nil
    /// Bytes of its result and log lines together.
    public var outputBytes: Int? = nil
    /// Bytes of registry data it may write back in one release.
    public var registryBytes: Int? = nil
    /// Script threads (the action and stdnse.new_thread's) alive at once; the
    /// child enforces it, the broker's in-flight limit backs it.
    public var threads: Int? = nil
    /// Where connect and sendto may go besides the hosts under scan.
    public var network: Set<Reach> = []
    /// Raw packets (pcap, dnet).
    public var raw: Bool = false
    /// What it may read: nmap's data directories, files named in script
    /// arguments, and further paths.
    public var read: Set<ReadSource> = [.nmapData, .scriptArgs]

    public init() {}

    /// Destinations beyond the hosts under scan.
    public enum Reach: String, CaseIterable, Sendable, Comparable {
        /// The DNS servers nsebox uses (nmap.get_dns_servers), on port 53.
        case dns
        /// Broadcast and multicast addresses.
        case broadcast
        public static func < (a: Reach, b: Reach) -> Bool { a.rawValue < b.rawValue }
    }

    public enum ReadSource: Hashable, Sendable, Comparable {
        case nmapData
        case scriptArgs
        case path(String)

        public var word: String {
            switch self {
            case .nmapData: return "nmap-data"
            case .scriptArgs: return "script-args"
            case .path(let p): return p
            }
        }
        public static func < (a: ReadSource, b: ReadSource) -> Bool { a.word < b.word }
    }
}

/// A `when category NAME ...` or `when script NAME ...` line: a rights statement
/// that applies to the scripts it names, after the policy's own statements, in
/// file order.
public struct RightsOverride: Equatable, Sendable {
    public enum Selector: Equatable, Sendable {
        case category(String)
        case script(String)
    }
    public var selector: Selector
    /// The statement's words ("limit sockets 1024").
    public var statement: [String]
    public var line: Int
}

extension Policy {
    /// The rights of a script with this name and these categories.
    public func rights(script: String, categories: [String]) -> ScriptRights {
        var r = rights
        for o in overrides {
            let applies: Bool
            switch o.selector {
            case .category(let c): applies = categories.contains(c)
            case .script(let s): applies = s == script
            }
            // Checked when the policy was parsed.
            if applies { try? PolicyParser.applyRights(o.statement, to: &r, line: o.line) }
        }
        return r
    }

    /// Whether the policy lets a script with these categories run at all.
    public func runs(categories: [String]) -> Bool {
        guard let allowed = runCategories else { return true }
        return categories.contains { allowed.contains($0) }
    }
}
