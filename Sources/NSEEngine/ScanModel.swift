import NSEBroker
import NSEScan
import NSEWire

/// Everything the user asked for.
public struct ScanOptions: Sendable {
    public var targets: [ScanTarget]
    public var ports: PortSelection
    public var scripts: [ScriptFile]
    public var scriptArgs: Value
    public var verbosity: Int
    public var debugging: Int
    public var services: ServiceTable
    public var broker: BrokerConfig
    /// --script-timeout in seconds.
    public var scriptTimeout: Double?
    /// Seconds between progress lines on stderr (--stats-every); nil or 0: none.
    public var progressEvery: Double? = 10
    /// nmap-payloads, for the UDP scan.
    public var udpPayloads = UDPPayloads()
    /// Hosts and ports from an earlier nmap scan (--nmap-xml): no port scan then.
    public var imported: [ImportedHost]?
    /// The command line, for the audit log's `scan` record (what `nsebox replay` reruns).
    public var commandLine: [String] = []
    /// `nsebox replay`: the recorded port scan, used instead of probing.
    public var replayHosts: [String: RecordedHost]?

    public init(targets: [ScanTarget], ports: PortSelection, scripts: [ScriptFile], scriptArgs: Value,
                verbosity: Int, debugging: Int, services: ServiceTable, broker: BrokerConfig,
                scriptTimeout: Double? = nil) {
        self.targets = targets; self.ports = ports; self.scripts = scripts; self.scriptArgs = scriptArgs
        self.verbosity = verbosity; self.debugging = debugging; self.services = services; self.broker = broker
        self.scriptTimeout = scriptTimeout
    }
}

/// One script's result as the report shows it.
public struct ScriptResult: Sendable {
    public var id: String
    public var output: [UInt8]
    public var structured: Value?
}

/// A port in the report.
public struct PortReport: Sendable {
    public var port: Int
    public var proto: PortProtocol
    public var state: String
    public var reason: String
    public var service: String
    /// What nmap.set_port_version recorded.
    public var version: Value?
    public var scripts: [ScriptResult] = []
}

/// A host in the report.
public struct HostReport: Sendable {
    public var target: ScanTarget
    public var latency: Double?
    public var ports: [PortReport]
    /// Its round-trip estimate from the port scan, scripts' `host.times`.
    public var times = HostTimes()
    public var hostScripts: [ScriptResult] = []
    /// When the host's port scan began and its scripts ended (Unix seconds), for -oX.
    public var startTime: Double? = nil
    public var endTime: Double? = nil
    /// Host-table fields known from an imported scan (os, mac_addr, times, ...).
    public var hostFields: [(String, Value)] = []
}

/// The whole run.
public struct ScanReport: Sendable {
    public var startTime: Double
    public var elapsed: Double
    public var preScripts: [ScriptResult] = []
    public var hosts: [HostReport] = []
    public var postScripts: [ScriptResult] = []
}

/// What a describe job learned about a script.
struct ScriptInfo {
    var file: ScriptFile
    var source: [UInt8]
    var rules: Set<String>
    var dependencies: [String]
    /// What the script declares, and so what the policy's `scripts` and `when
    /// category` lines see.
    var categories: [String] = []
    var runlevel = 1
}
