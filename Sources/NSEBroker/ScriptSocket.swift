import NSEWire

/// A socket as a script instance sees it through the broker: a live `NetSocket`,
/// or a `ReplaySocket` answering from a recording. Operations reply with nmap's
/// conventions: `true[, data]`, or `nil, "TIMEOUT" | "EOF" | error text`.
protocol ScriptSocket: AnyObject {
    typealias Reply = ([Value]) -> Void

    var id: Int64 { get }
    /// The current operation's timeout; -1 means none, as in nmap.
    var timeoutMs: Int { get set }
    /// The name TLS sends as SNI.
    var serverName: String? { get set }
    var isOpen: Bool { get }
    /// An operation is under way (its record must outlive a purge).
    var isBusy: Bool { get }
    /// "ADDRESS:PORT" of the local end, once connected.
    var localAddress: String? { get }
    /// Version, cipher and the peer certificate's DER of a TLS socket.
    var tlsFacts: (version: String, cipher: String, certificate: [UInt8]?)? { get }

    func connect(to address: SocketAddress, from source: SocketAddress?, udp: Bool, tls useTLS: Bool, reply: @escaping Reply)
    func startTLS(reply: @escaping Reply)
    func peerCertificate(reply: @escaping Reply)
    func sendTo(_ address: SocketAddress, _ data: [UInt8], reply: @escaping Reply)
    func send(_ data: [UInt8], reply: @escaping Reply)
    func receive(mode: ReceiveMode, count: Int, reply: @escaping Reply)
    func close(reply: @escaping Reply)
    func info(reply: @escaping Reply)
    /// Releases everything at once, answering nothing (the child is gone).
    func closeNow()
}

extension NetSocket: ScriptSocket {}
