import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Helpers shared by the conformance suite's service launchers (Services/*.swift).
// The harness itself (ServiceProcess, ChildProcess, runProcess, runNmap, runNsebox,
// reportBody) is IntegrationTests' code, linked into this target by the symlinks in
// Harness/.
//
// Every service of the suite listens on its standard port on 127.0.0.1 (nmap's
// portrules key on port numbers when there is no -sV), so the suite needs those
// ports free; it checks them first and says which one is busy.

/// A port source for `ServiceProcess.start` giving exactly `port`, once.
func exactly(_ port: Int) -> () throws -> Int? {
    var given = false
    return { defer { given = true }; return given ? nil : port }
}

/// True when a UDP socket could bind 127.0.0.1:`port` right now.
func loopbackUDPPortIsFree(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// True when some socket is bound to UDP 127.0.0.1:`port` (from /proc/net/udp).
func loopbackUDPPortIsBound(_ port: Int) -> Bool {
    guard let table = try? String(contentsOfFile: "/proc/net/udp", encoding: .utf8) else { return false }
    let wanted = String(format: "0100007F:%04X", port)
    return table.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first == Substring(wanted) }
}

/// Throws naming the first standard port that is already taken.
func requireFreePorts(tcp: [Int], udp: [Int]) throws {
    for port in tcp where !loopbackPortIsFree(port) {
        throw ServiceError.setup("TCP port 127.0.0.1:\(port) is in use; the conformance suite needs the standard ports")
    }
    for port in udp where !loopbackUDPPortIsFree(port) {
        throw ServiceError.setup("UDP port 127.0.0.1:\(port) is in use; the conformance suite needs the standard ports")
    }
}

/// Fails with a hint when a binary the suite needs is missing.
func requireExecutables(_ paths: [String], package: String) throws {
    for path in paths where !FileManager.default.isExecutableFile(atPath: path) {
        throw ServiceError.missingExecutable(path: path, hint: "install it with `apt-get install \(package)` (scripts/deps --test does)")
    }
}

/// Runs a set-up command; throws with its output when it fails.
func runSetup(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60) throws {
    let result = try runProcess(executable, arguments, timeout: timeout)
    guard result.exitCode == 0 else {
        throw ServiceError.setup("\(([executable] + arguments).joined(separator: " ")) failed: \(result)")
    }
}

/// A throwaway self-signed certificate (RSA 2048, one day) written by the openssl CLI
/// as `cert.pem` and `cert.key` in `service`'s directory; nginx, exim and dovecot use it.
struct Certificate {
    static let commonName = "nsebox-conformance.example"
    let certificate: String
    let key: String

    init(in service: ServiceProcess) throws {
        try requireExecutables(["/usr/bin/openssl"], package: "openssl")
        certificate = service.path("cert.pem")
        key = service.path("cert.key")
        try runSetup("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "1",
            "-subj", "/O=nsebox conformance/CN=\(Self.commonName)",
            "-addext", "subjectAltName=DNS:\(Self.commonName),IP:127.0.0.1",
            "-keyout", key, "-out", certificate,
        ])
    }
}

/// A daemon that only speaks UDP: started like `ServiceProcess.start` (output to
/// `<name>.stdout.log`, own process group), ready once 127.0.0.1:`port` is bound.
final class UDPDaemon {
    let service: ServiceProcess
    let port: Int
    private var process: ChildProcess?

    init(service: ServiceProcess, port: Int, executable: String, arguments: [String],
         startupTimeout: TimeInterval = 15) throws {
        self.service = service
        self.port = port
        try requireExecutables([executable], package: "the package of \(executable)")
        let log = service.path("\(service.name).stdout.log")
        let process = try ChildProcess(executable: executable, arguments: arguments, stdoutPath: log, stderrPath: log)
        self.process = process
        let deadline = Date().addingTimeInterval(startupTimeout)
        while Date() < deadline {
            guard process.isRunning else { break }
            if loopbackUDPPortIsBound(port) { return }
            usleep(20_000)
        }
        stop()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw ServiceError.didNotStart(service: service.name, port: port,
                                       reason: "UDP port not bound within \(startupTimeout) s or the daemon exited",
                                       log: text)
    }

    deinit { stop() }

    func stop() {
        process?.terminate(grace: 5)
        process = nil
    }
}
