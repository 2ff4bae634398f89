import Foundation

/// dnsmasq answering DNS on 127.0.0.1 (UDP and TCP) from a fixed name table:
/// no upstream servers, no /etc/hosts, so it never sends a packet elsewhere.
final class DNSService {
    static let executable = "/usr/sbin/dnsmasq"
    private let service: ServiceProcess
    var port: Int { service.port }

    init(startupTimeout: TimeInterval = 10) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw ServiceError.missingExecutable(path: Self.executable, hint: "install it with `apt-get install dnsmasq-base`")
        }
        let service = try ServiceProcess(name: "dnsmasq")
        self.service = service
        try service.start(executable: Self.executable, ports: kernelChosenPorts(), startupTimeout: startupTimeout) { port in
            ["--keep-in-foreground", "--port=\(port)", "--listen-address=127.0.0.1", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=\(service.path("dnsmasq.pid"))",
             "--address=/nsebox.test/127.0.0.9", "--log-facility=\(service.path("dnsmasq.log"))"]
        }
    }

    func stop() { service.stop() }
}
