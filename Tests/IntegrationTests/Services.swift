import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Throwaway real services on 127.0.0.1 for integration tests.
//
// Each service gets a fresh temporary directory (config, logs, pid file, data),
// listens on a loopback port nobody else is using, and is stopped (killed and
// waited for) by `stop()` or when the handle is released. Nothing here ever
// binds or connects to an address other than 127.0.0.1.

// MARK: - Errors

enum ServiceError: Error, CustomStringConvertible {
    /// The service exited or never accepted connections; `log` is the content
    /// of its log files.
    case didNotStart(service: String, port: Int, reason: String, log: String)
    /// A binary the harness needs is not installed.
    case missingExecutable(path: String, hint: String)
    /// A socket call failed.
    case socket(call: String, errno: Int32)
    /// Preparing the temporary directory, config or keys failed.
    case setup(String)

    var description: String {
        switch self {
        case let .didNotStart(service, port, reason, log):
            return "\(service) did not come up on 127.0.0.1:\(port): \(reason)\n--- \(service) log ---\n\(log)--- end of log ---"
        case let .missingExecutable(path, hint):
            return "\(path) is missing: \(hint)"
        case let .socket(call, code):
            return "\(call) failed: \(String(cString: strerror(code)))"
        case let .setup(message):
            return message
        }
    }
}

// MARK: - Loopback sockets

/// A TCP port on 127.0.0.1 that was free a moment ago: the kernel's choice for
/// a bind to 127.0.0.1:0, released again before returning.
func freeLoopbackPort() throws -> Int {
    let fd = try loopbackSocket()
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard ok else { throw ServiceError.socket(call: "bind(127.0.0.1:0)", errno: errno) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// True when a listener could bind 127.0.0.1:`port` right now (checked the way
/// nginx binds, with SO_REUSEADDR, so TIME_WAIT leftovers do not count).
func loopbackPortIsFree(_ port: Int) -> Bool {
    guard let fd = try? loopbackSocket() else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = loopbackAddress(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
    return bound && listen(fd, 1) == 0
}

/// True when a TCP connect to 127.0.0.1:`port` succeeds (the connection is
/// closed again at once).
func loopbackAccepts(port: Int) -> Bool {
    guard let fd = try? loopbackConnect(port: port) else { return false }
    close(fd)
    return true
}

/// Connects to 127.0.0.1:`port`, sends `request` (if any), then reads until the
/// peer closes, `until` says the text read so far is enough, or `timeout`
/// seconds pass without the peer closing. Returns what was read.
func loopbackExchange(
    port: Int, send request: String? = nil, timeout: TimeInterval = 5,
    until done: ((String) -> Bool)? = nil
) throws -> String {
    let fd = try loopbackConnect(port: port)
    defer { close(fd) }
    if let request {
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + sent, $0.count - sent) }
            guard n > 0 else { throw ServiceError.socket(call: "write", errno: errno) }
            sent += n
        }
    }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let remaining = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
        let ready = poll(&pfd, 1, remaining)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { break }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        received += buffer[0..<n]
        if let done, done(String(decoding: received, as: UTF8.self)) { break }
    }
    return String(decoding: received, as: UTF8.self)
}

private func loopbackSocket() throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ServiceError.socket(call: "socket", errno: errno) }
    return fd
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian  // 127.0.0.1, always
    return address
}

private func loopbackConnect(port: Int) throws -> Int32 {
    let fd = try loopbackSocket()
    var address = loopbackAddress(port: port)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        let code = errno
        close(fd)
        throw ServiceError.socket(call: "connect(127.0.0.1:\(port))", errno: code)
    }
    return fd
}

// MARK: - Process and temporary directory of one service

/// A service process with its own temporary directory. Stops (SIGTERM to its
/// process group, then SIGKILL after a grace period, always waited for) on
/// `stop()` or deinit; the
/// directory is removed on deinit unless NSEBOX_KEEP_TEMP is set.
final class ServiceProcess {
    let name: String
    let directory: URL
    private(set) var port: Int = 0
    private var process: ChildProcess?
    /// Files whose content goes into start-up error messages.
    private var logFiles: [URL] = []

    init(name: String) throws {
        self.name = name
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("nsebox-it-\(name)-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ServiceError.setup("cannot create \(directory.path): \(error)")
        }
    }

    deinit {
        stop()
        if ProcessInfo.processInfo.environment["NSEBOX_KEEP_TEMP"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    func path(_ component: String) -> String { directory.appendingPathComponent(component).path }

    /// Writes `text` to `component` inside the service's directory.
    func write(_ text: String, to component: String) throws {
        let url = directory.appendingPathComponent(component)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Starts `executable` with the arguments `makeArguments(port)` gives, for a
    /// port from `ports`, and waits until 127.0.0.1:port accepts connections.
    /// The process's stdout and stderr go to `<name>.stdout.log` in the
    /// directory; `extraLogs` (paths inside the directory) are shown too when
    /// start-up fails. If the service exits complaining the address is in use
    /// (someone took the port meanwhile) it is retried on the next port.
    func start(
        executable: String, ports: () throws -> Int?, extraLogs: [String] = [],
        startupTimeout: TimeInterval = 10, makeArguments: (Int) throws -> [String]
    ) throws {
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw ServiceError.missingExecutable(path: executable, hint: "cannot start \(name)")
        }
        var attempt = 0
        while true {
            attempt += 1
            guard let port = try ports() else {
                throw ServiceError.didNotStart(
                    service: name, port: self.port, reason: "no free port left to try", log: logText())
            }
            self.port = port
            let arguments = try makeArguments(port)
            let outputLog = directory.appendingPathComponent("\(name).stdout.log")
            _ = FileManager.default.createFile(atPath: outputLog.path, contents: nil)
            logFiles = [outputLog] + extraLogs.map { directory.appendingPathComponent($0) }
            let commandLine = ([executable] + arguments).joined(separator: " ")

            let process: ChildProcess
            do {
                process = try ChildProcess(
                    executable: executable, arguments: arguments,
                    stdoutPath: outputLog.path, stderrPath: outputLog.path)
            } catch {
                throw ServiceError.didNotStart(service: name, port: port, reason: "\(error)", log: logText())
            }
            self.process = process

            let deadline = Date().addingTimeInterval(startupTimeout)
            var exited = false
            while Date() < deadline {
                if !process.isRunning { exited = true; break }
                if loopbackAccepts(port: port) {
                    // Make sure it is our process that answered, not an intruder.
                    if process.isRunning { return }
                    exited = true
                    break
                }
                usleep(20_000)
            }
            if exited {
                process.finish()
                self.process = nil
                let log = logText()
                if log.contains("Address already in use") && attempt < 5 { continue }
                throw ServiceError.didNotStart(
                    service: name, port: port,
                    reason: "it exited with status \(process.exitCode ?? -1)"
                        + (process.wasSignaled ? " (killed by a signal)" : "") + "; command: \(commandLine)",
                    log: log)
            }
            stop()
            throw ServiceError.didNotStart(
                service: name, port: port,
                reason: "no connection accepted within \(startupTimeout) s; command: \(commandLine)",
                log: logText())
        }
    }

    /// True while the service process runs.
    var isRunning: Bool { process?.isRunning ?? false }

    /// Stops the service: SIGTERM to its process group, SIGKILL after 5 s,
    /// then waits for it.
    func stop() {
        guard let process else { return }
        self.process = nil
        process.terminate(grace: 5)
    }

    /// The content of the service's log files, each under its name.
    func logText() -> String {
        logFiles.map { url in
            let text = (try? String(contentsOf: url, encoding: .utf8)) ?? "(no such file)\n"
            return "[\(url.lastPathComponent)]\n" + (text.hasSuffix("\n") || text.isEmpty ? text : text + "\n")
        }.joined()
    }
}

/// A port source giving a new kernel-chosen free port on each call (a retry
/// after "Address already in use" gets a different one).
func kernelChosenPorts() -> () throws -> Int? {
    { try freeLoopbackPort() }
}

// MARK: - nginx

/// nginx serving a static site from a temporary directory on 127.0.0.1:`port`.
/// Runs in the foreground as one process (`daemon off; master_process off;`),
/// so it stays the invoking user (root here: no `user` directive is needed and
/// nothing is written under /var/lib/nginx or /var/log/nginx).
final class NginxService {
    static let executable = "/usr/sbin/nginx"

    /// Ports that nmap's `shortport.http` accepts (LIKELY_HTTP_PORTS, plus the
    /// ports nmap-services names http/http-alt/http-proxy/oem-agent/vnc-http),
    /// without 443/8443 (those make nmap's http library try TLS) and ports < 1024.
    /// Scripts such as http-title only run on such a port when there is no -sV.
    static let httpLikelyPorts = [8080, 8000, 8008, 8088, 8180, 7080, 5800, 3872]

    /// Ports that both `shortport.http` and `shortport.ssl` accept without -sV
    /// (nmap-services: https-alt, https), so nmap's http library speaks TLS there.
    static let httpsLikelyPorts = [8443, 443]

    enum PortChoice {
        /// A kernel-chosen free port (bind 127.0.0.1:0, close).
        case anyFree
        /// The first free port of `httpLikelyPorts`, so shortport.http matches.
        case httpLikely
        /// The first free port of `httpsLikelyPorts` (for `tls: true`).
        case httpsLikely
        /// Exactly this port.
        case fixed(Int)
    }

    let title: String
    /// Whether nginx speaks TLS (`listen … ssl`) with a throwaway self-signed certificate.
    let tls: Bool
    /// The certificate's subject common name (with `tls`).
    static let certificateName = "nsebox-test.example"
    private let service: ServiceProcess
    var port: Int { service.port }
    /// The temporary directory holding nginx.conf, the logs and `www/`.
    var directory: URL { service.directory }
    /// The document root.
    var documentRoot: URL { service.directory.appendingPathComponent("www") }

    /// Serializes the choice of an http-likely port among tests of one process.
    private static let portLock = NSLock()

    /// - Parameters:
    ///   - title: the `<title>` of `/index.html`, inserted verbatim (no escaping).
    ///   - robots: the content of `/robots.txt`.
    ///   - files: more documents, path relative to the root -> content.
    ///   - tls: serve HTTPS with a self-signed certificate made by the `openssl` CLI
    ///     (CN `certificateName`, O "nsebox tests", RSA 2048, valid one day) in the
    ///     temporary directory.
    ///   - sniName: with `tls`, a second server for clients sending this name as SNI,
    ///     with its own certificate (CN `sniName`, O "nsebox tests sni").
    init(
        title: String,
        robots: String = "User-agent: *\nDisallow: /private/\n",
        files: [String: String] = [:],
        port choice: PortChoice = .anyFree,
        tls: Bool = false,
        sniName: String? = nil,
        startupTimeout: TimeInterval = 10
    ) throws {
        self.title = title
        self.tls = tls
        service = try ServiceProcess(name: tls ? "nginx-tls" : "nginx")
        if tls {
            try Self.makeCertificate(in: service, name: Self.certificateName, organization: "nsebox tests", file: "cert")
            if let sniName {
                try Self.makeCertificate(in: service, name: sniName, organization: "nsebox tests sni", file: "sni")
            }
        }
        let index = """
            <!DOCTYPE html>
            <html>
            <head>
            <title>\(title)</title>
            </head>
            <body>
            <h1>nsebox test page</h1>
            </body>
            </html>

            """
        try service.write(index, to: "www/index.html")
        try service.write(robots, to: "www/robots.txt")
        for (path, content) in files { try service.write(content, to: "www/" + path) }

        let ports: () throws -> Int?
        switch choice {
        case .anyFree:
            ports = kernelChosenPorts()
        case .fixed(let port):
            var given = false
            ports = { defer { given = true }; return given ? nil : port }
        case .httpLikely, .httpsLikely:
            var candidates = (choice.isHTTPS ? Self.httpsLikelyPorts : Self.httpLikelyPorts)[...]
            ports = {
                while let next = candidates.popFirst() {
                    if loopbackPortIsFree(next) { return next }
                }
                return nil
            }
        }
        let service = self.service
        let configure: (Int) throws -> [String] = { port in
            try service.write(Self.config(directory: service.directory.path, port: port, tls: tls, sniName: sniName),
                              to: "nginx.conf")
            return ["-p", service.directory.path + "/", "-e", service.path("error.log"),
                    "-c", service.path("nginx.conf")]
        }
        let lockPort = choice.isLikely
        if lockPort { Self.portLock.lock() }
        defer { if lockPort { Self.portLock.unlock() } }
        try service.start(
            executable: Self.executable, ports: ports, extraLogs: ["error.log"],
            startupTimeout: startupTimeout, makeArguments: configure)
    }

    /// Writes `FILE.pem` and `FILE.key` with the openssl CLI.
    private static func makeCertificate(in service: ServiceProcess, name: String, organization: String,
                                        file: String) throws {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else {
            throw ServiceError.missingExecutable(path: openssl, hint: "install it with `apt-get install openssl`")
        }
        let made = try runProcess(openssl, [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "1",
            "-subj", "/O=\(organization)/CN=\(name)",
            "-addext", "subjectAltName=DNS:\(name),IP:127.0.0.1",
            "-keyout", service.path(file + ".key"), "-out", service.path(file + ".pem"),
        ], timeout: 60)
        guard made.exitCode == 0 else { throw ServiceError.setup("openssl req failed: \(made)") }
    }

    static func config(directory d: String, port: Int, tls: Bool = false, sniName: String? = nil) -> String {
        let listen = tls
            ? """
              listen 127.0.0.1:\(port) ssl default_server;
                      server_name \(certificateName);
                      ssl_certificate \(d)/cert.pem;
                      ssl_certificate_key \(d)/cert.key;
              """
            : "listen 127.0.0.1:\(port);\n        server_name localhost;"
        // A second server that nginx picks by SNI; the first stays the default.
        let sniServer = tls && sniName != nil ? """
                server {
                    listen 127.0.0.1:\(port) ssl;
                    server_name \(sniName!);
                    ssl_certificate \(d)/sni.pem;
                    ssl_certificate_key \(d)/sni.key;
                    root \(d)/www;
                    index index.html;
                }
            """ : ""
        return """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(d)/nginx.pid;
        error_log \(d)/error.log info;

        events {
            worker_connections 256;
        }

        http {
            access_log \(d)/access.log;
            client_body_temp_path \(d)/client_body_temp;
            proxy_temp_path \(d)/proxy_temp;
            fastcgi_temp_path \(d)/fastcgi_temp;
            uwsgi_temp_path \(d)/uwsgi_temp;
            scgi_temp_path \(d)/scgi_temp;
            types {
                text/html html htm;
                text/plain txt;
            }
            default_type application/octet-stream;

            server {
                \(listen)
                root \(d)/www;
                index index.html;
            }
        \(sniServer)
        }

        """
    }

    /// Stops nginx (killed and waited for). Also done on release.
    func stop() { service.stop() }
    var isRunning: Bool { service.isRunning }
    /// The logs (stdout/stderr and error.log), for messages.
    func logText() -> String { service.logText() }
}

extension NginxService.PortChoice {
    var isHTTPS: Bool { if case .httpsLikely = self { return true } else { return false } }
    /// A choice from a shared list of well-known ports (serialized between tests).
    var isLikely: Bool {
        switch self {
        case .httpLikely, .httpsLikely: return true
        default: return false
        }
    }
}

// MARK: - OpenSSH sshd

/// OpenSSH's sshd on 127.0.0.1:`port` with a throwaway ed25519 host key. It
/// sends its banner ("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u…") on connect.
/// Nobody can log in: no passwords, no keys, no PAM.
final class SSHService {
    static let executable = "/usr/sbin/sshd"  // sshd re-execs itself: absolute path required
    static let keygen = "/usr/bin/ssh-keygen"
    static let privilegeSeparationDirectory = "/run/sshd"

    private let service: ServiceProcess
    var port: Int { service.port }
    var directory: URL { service.directory }
    /// The public host key line ("ssh-ed25519 AAAA… nsebox-test").
    let hostKeyPublic: String

    /// Logins a test may open: none by default. `authorizedKeys` lets root in with
    /// those public keys only; `passwords` turns on password logins (for accounts
    /// the test made itself, see `TemporaryAccount`).
    struct Logins {
        var authorizedKeys: String? = nil
        var passwords = false
    }

    init(startupTimeout: TimeInterval = 10, logins: Logins = Logins()) throws {
        for tool in [Self.executable, Self.keygen] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw ServiceError.missingExecutable(
                path: tool, hint: "install it with `apt-get install openssh-server` (.ci/run does)")
        }
        // sshd refuses to start without its privilege separation directory
        // (normally made by the init script): root-owned, not group/world writable.
        if !FileManager.default.fileExists(atPath: Self.privilegeSeparationDirectory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: Self.privilegeSeparationDirectory, withIntermediateDirectories: true,
                    attributes: [.posixPermissions: 0o755])
            } catch {
                throw ServiceError.setup("cannot create \(Self.privilegeSeparationDirectory) for sshd: \(error)")
            }
        }
        let service = try ServiceProcess(name: "sshd")
        self.service = service
        let key = service.path("ssh_host_ed25519_key")
        let keygen = try runProcess(Self.keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "nsebox-test", "-f", key],
                                    timeout: 30)
        guard keygen.exitCode == 0 else {
            throw ServiceError.setup("ssh-keygen failed (\(keygen.exitCode)): \(keygen.stderr)")
        }
        hostKeyPublic = ((try? String(contentsOfFile: key + ".pub", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)

        try service.start(
            executable: Self.executable, ports: kernelChosenPorts(), startupTimeout: startupTimeout
        ) { port in
            var keysFile = "none"
            if let keys = logins.authorizedKeys {
                try service.write(keys, to: "authorized_keys")
                keysFile = service.path("authorized_keys")
            }
            let config = """
                ListenAddress 127.0.0.1
                Port \(port)
                HostKey \(key)
                PidFile \(service.path("sshd.pid"))
                UsePAM no
                PasswordAuthentication \(logins.passwords ? "yes" : "no")
                KbdInteractiveAuthentication no
                PubkeyAuthentication \(logins.authorizedKeys == nil ? "no" : "yes")
                AuthorizedKeysFile \(keysFile)
                StrictModes no
                PermitRootLogin \(logins.authorizedKeys == nil ? "no" : "prohibit-password")
                MaxStartups 200
                LoginGraceTime 30

                """
            try service.write(config, to: "sshd_config")
            return ["-D", "-e", "-f", service.path("sshd_config")]
        }
    }

    /// Stops sshd (killed and waited for). Also done on release.
    func stop() { service.stop() }
    var isRunning: Bool { service.isRunning }
    func logText() -> String { service.logText() }
}

// MARK: - A closed port

/// A loopback port with nothing listening: a kernel-chosen free port, released.
/// Connects to it are refused (nmap reports it "closed").
struct ClosedPort {
    let port: Int

    init() throws {
        for _ in 0..<5 {
            let candidate = try freeLoopbackPort()
            if !loopbackAccepts(port: candidate) {
                port = candidate
                return
            }
        }
        throw ServiceError.setup("could not find a closed loopback port")
    }
}
