/// A run recorded in an audit log, as `nsebox replay` answers from it: per script
/// instance, its random seed and the conversations of its sockets. The engine
/// reads the log into this (NSEEngine/RecordingReader.swift); the broker hands
/// each instance of the replay the recorded instance with the same script, rule
/// and target, in the order they were recorded.
/// Used only on the broker's loop (unchecked: it travels in `BrokerConfig`).
public final class Recording: @unchecked Sendable {
    /// One socket operation as it was recorded.
    public enum Event: Sendable {
        case connect(protocol: String, source: String, destination: String, result: String)
        /// `result` is "ok" or the error the script got.
        case tls(result: String, version: String, cipher: String, certificate: [UInt8]?)
        case send([UInt8])
        case sendTo(destination: String, [UInt8])
        /// The bytes the script got, or (nil) the error it got instead.
        case receive([UInt8]?, result: String)
        case close

        /// How a departure message names the event.
        var summary: String {
            switch self {
            case .connect(let p, _, let d, _): return "a \(p) connect to \(d)"
            case .tls: return "a TLS handshake"
            case .send(let b): return "a send of \(b.count) bytes"
            case .sendTo(let d, let b): return "a sendto of \(b.count) bytes to \(d)"
            case .receive(let b, let r): return b.map { "a receive of \($0.count) bytes" } ?? "a receive ending in \(r)"
            case .close: return "a close"
            }
        }
    }

    /// The operations of one socket from a connect (or a first sendto) on.
    public struct Conversation: Sendable {
        public var socket: Int64
        public var events: [Event]
        public init(socket: Int64, events: [Event]) { self.socket = socket; self.events = events }
    }

    public struct Resolve: Sendable {
        public var name: String
        public var family: String
        /// Empty: the name did not resolve.
        public var addresses: [String]
        public init(name: String, family: String, addresses: [String]) {
            self.name = name; self.family = family; self.addresses = addresses
        }
    }

    public struct Instance: Sendable {
        /// The recorded label ("http-title#4"): what messages name.
        public var label: String
        public var script: String
        public var rule: String
        public var target: String
        public var scriptSHA256: String
        /// The seed of the instance's random stream (CNSEModules/random.c).
        public var seed: [UInt8]
        public var conversations: [Conversation] = []
        public var resolves: [Resolve] = []
        public init(label: String, script: String, rule: String, target: String, scriptSHA256: String, seed: [UInt8]) {
            self.label = label; self.script = script; self.rule = rule; self.target = target
            self.scriptSHA256 = scriptSHA256; self.seed = seed
        }
    }

    private var waiting: [String: ArraySlice<Instance>] = [:]
    private var order: [String] = []
    /// Every departure from the recording, as told to the user.
    public private(set) var departures: [String] = []

    public init(instances: [Instance]) {
        for i in instances {
            let key = Self.key(i.script, i.rule, i.target)
            if waiting[key] == nil { order.append(key) }
            waiting[key, default: []].append(i)
        }
    }

    private static func key(_ script: String, _ rule: String, _ target: String) -> String {
        script + "\u{0}" + rule + "\u{0}" + target
    }

    /// The next recorded instance of this script, rule and target, if any is left.
    func claim(script: String, rule: String, target: String) -> Instance? {
        let key = Self.key(script, rule, target)
        guard let first = waiting[key]?.first else { return nil }
        waiting[key]!.removeFirst()
        return first
    }

    func noteDeparture(_ message: String) { departures.append(message) }

    /// Recorded instances the replay never ran, in recorded order.
    public var unclaimed: [Instance] { order.flatMap { Array(waiting[$0] ?? []) } }
}
