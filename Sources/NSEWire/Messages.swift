/// Every message of the broker/child protocol, with its number. docs/rpc.md is the
/// specification; this file is its one implementation. Numbers are never reused or
/// renumbered. A reply carries the number of its request with the high bit set
/// (`Op.reply(to:)`) and the same request id.
public enum Op: UInt8, CaseIterable, Sendable {
    // Session set-up.
    case hello = 1          // broker -> child
    case helloAck = 2       // child -> broker
    case run = 3            // broker -> child

    // Sockets, owned by the broker; `sock` is a number the child chose.
    case connect = 10
    case send = 11
    case receive = 12
    case close = 13
    case setTimeout = 14    // one-way
    case getInfo = 15
    case sleep = 16
    case reconnectSSL = 17      // TLS on a connected TCP socket (STARTTLS)
    case getSSLCertificate = 18 // the peer's certificate, DER
    case sendTo = 19            // unconnected UDP

    // Registries, held by the broker.
    case registryAcquire = 20
    case registryRelease = 21   // one-way
    case mutexLock = 22
    case mutexTryLock = 23
    case mutexUnlock = 24       // one-way
    // A socket's close, answered by the child itself (it knows from its own calls
    // whether the socket is open, as nmap's close does); the broker closes it.
    case closeAnswered = 25     // one-way

    // Files the child may read through the broker.
    case loadModule = 30
    case readDataFile = 31
    case fileInfo = 32

    // The broker's port table.
    case getPortState = 40
    case setPortState = 41      // one-way
    case setPortVersion = 42    // one-way
    case getPorts = 43

    // Facts about the network and the scan.
    case resolve = 44
    case dnsServers = 45
    case interfaces = 46
    case addTargets = 47
    case newTargetsNum = 48

    // Raw packets: the broker holds every pcap handle and raw socket.
    case pcapOpen = 60          // a capture on a socket
    case pcapReceive = 61       // the next captured packet
    case rawSend = 62           // an IP packet or an Ethernet frame

    // The zygote (one per scan): it forks an instance per job and reports its end.
    case zygoteReady = 70       // zygote -> broker; one-way
    case spawnChild = 71        // broker -> zygote; one-way, the instance's socket attached (SCM_RIGHTS)
    case childSpawned = 72      // zygote -> broker; one-way
    case killChild = 73         // broker -> zygote; one-way
    case childExited = 74       // zygote -> broker; one-way
    case zygoteBytecode = 75    // zygote -> broker; one-way, before zygoteReady: the bytecode it compiled (modules for the cache, scripts for the instances)

    // Output.
    case log = 50               // one-way
    case result = 51            // one-way; the last message of a child

    /// The op number of the reply to a request.
    public static func reply(to op: Op) -> UInt8 { op.rawValue | 0x80 }

    /// Who may send this message.
    public var sender: Sender {
        switch self {
        case .hello, .run, .spawnChild, .killChild: return .broker
        case .zygoteReady, .childSpawned, .childExited, .zygoteBytecode: return .zygote
        default: return .child
        }
    }

    /// Whether the broker answers this request (one-way messages get no reply).
    public var expectsReply: Bool {
        switch self {
        case .hello, .helloAck, .run, .setTimeout, .registryRelease, .log, .result,
             .setPortState, .setPortVersion, .mutexUnlock, .closeAnswered,
             .zygoteReady, .spawnChild, .childSpawned, .killChild, .childExited, .zygoteBytecode: return false
        default: return true
        }
    }

    /// The arguments a request carries, checked by the decoder before any handler runs.
    public var arguments: [ArgumentKind] {
        switch self {
        case .hello: return [.int, .string]                                   // version, policy text
        case .helloAck: return [.int]                                         // version
        case .run: return [.table]                                            // the job
        case .connect: return [.int, .string, .int, .string, .string, .int]   // sock, host, port, proto, source address, source port
        case .send: return [.int, .string]                                    // sock, data
        case .receive: return [.int, .int, .int]                              // sock, mode, count
        case .close, .closeAnswered: return [.int]                            // sock
        case .setTimeout: return [.int, .int]                                 // sock, ms
        case .getInfo: return [.int]                                          // sock
        case .sleep: return [.int]                                            // ms
        case .reconnectSSL: return [.int]                                     // sock
        case .getSSLCertificate: return [.int]                                // sock
        case .sendTo: return [.int, .string, .int, .string]                   // sock, host, port, data
        case .registryAcquire: return [.string]                               // scope
        case .registryRelease: return [.string, .tableOrNil]                  // scope, contents (nil: unchanged)
        case .mutexLock: return [.string, .int, .string]                      // key, thread, registry scope to lend with it ("" = none)
        case .mutexTryLock, .mutexUnlock: return [.string, .int]              // key, thread
        case .getPorts: return [.string, .string]                             // protocol, state ("" = any)
        case .fileInfo: return [.string]                                      // path
        case .resolve: return [.string, .string]                              // name, family
        case .dnsServers, .interfaces, .newTargetsNum: return []
        case .addTargets: return [.table]                                     // target specs
        case .loadModule: return [.string]                                    // module name
        case .readDataFile: return [.string]                                  // relative data file name
        case .getPortState: return [.int, .string]                            // port, protocol
        case .setPortState: return [.int, .string, .string]                   // port, protocol, "open"/"closed"
        case .setPortVersion: return [.int, .string, .table, .string]         // port, protocol, version, probe state
        case .pcapOpen: return [.int, .string, .int, .int, .string]          // sock, device, snaplen, promisc (0/1), BPF filter
        case .pcapReceive: return [.int]                                      // sock
        case .rawSend: return [.string, .string, .string, .string]            // "ip"|"ethernet", device, packet or frame, destination ("" = the packet's)
        case .zygoteReady: return [.int]                                      // modules loaded
        case .spawnChild: return [.int]                                       // instance id
        case .killChild: return [.int]                                        // instance id
        case .childSpawned: return [.int, .int]                               // instance id, pid (negative: -errno)
        case .childExited: return [.int, .int, .int, .int]                    // instance id, wait status, CPU us, peak KiB
        case .zygoteBytecode: return [.table, .table]                         // module name -> bytecode, script path -> bytecode
        case .log: return [.string, .string]                                  // channel, text
        case .result: return [.table]                                         // status, output, structured
        }
    }

    /// `zygote`: only the zygote, never a script's child; the zygote may also
    /// send the child's messages it needs while it loads (helloAck, loadModule, ...).
    public enum Sender: Sendable { case broker, child, zygote }
}

/// The shape of one argument.
public enum ArgumentKind: Sendable {
    case int, string, table, tableOrNil, any

    func accepts(_ v: Value) -> Bool {
        switch (self, v) {
        case (.any, _): return true
        case (.int, .int): return true
        case (.string, .bytes): return true
        case (.table, .table): return true
        case (.tableOrNil, .table), (.tableOrNil, .none): return true
        default: return false
        }
    }
}

/// Modes of the receive request.
public enum ReceiveMode: Int64, Sendable {
    case any = 0        // whatever is available, at least one byte
    case bytes = 1      // at least `count` bytes
    case lines = 2      // at least `count` newlines
}
