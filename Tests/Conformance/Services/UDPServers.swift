import Foundation

/// dnsmasq on 127.0.0.1:53 (UDP and TCP) answering from a fixed table: no upstream
/// servers, no /etc/hosts, so it never sends a packet anywhere. It answers
/// www.wikipedia.org (dns-recursion's question) itself, with recursion available.
final class DNSServer {
    static let executable = "/usr/sbin/dnsmasq"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable], package: "dnsmasq-base")
        let service = try ServiceProcess(name: "conformance-dnsmasq")
        self.service = service
        try service.start(executable: Self.executable, ports: exactly(53)) { _ in
            ["--keep-in-foreground", "--port=53", "--listen-address=127.0.0.1", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=\(service.path("dnsmasq.pid"))",
             "--address=/nsebox.test/127.0.0.9", "--address=/wikipedia.org/127.0.0.10",
             "--log-facility=\(service.path("dnsmasq.log"))"]
        }
    }

    func stop() { service.stop() }
}

/// Net-SNMP's snmpd on 127.0.0.1:161 (UDP; also TCP, which only serves to tell when
/// it is up), community "public" read-only from 127.0.0.1.
final class SNMPServer {
    static let executable = "/usr/sbin/snmpd"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable], package: "snmpd")
        let service = try ServiceProcess(name: "conformance-snmpd")
        self.service = service
        try service.write("""
            agentAddress udp:127.0.0.1:161,tcp:127.0.0.1:161
            rocommunity public 127.0.0.1
            sysLocation nsebox conformance rack
            sysContact nsebox <nsebox@nsebox-conformance.example>
            sysName nsebox-conformance
            sysDescr nsebox conformance snmpd

            """, to: "snmpd.conf")
        try FileManager.default.createDirectory(atPath: service.path("persist"), withIntermediateDirectories: true)
        // env: snmpd keeps its state (engine boots) in SNMP_PERSISTENT_DIR, not /var/lib/snmp.
        try service.start(executable: "/usr/bin/env", ports: exactly(161), extraLogs: ["snmpd.log"]) { _ in
            ["SNMP_PERSISTENT_DIR=\(service.path("persist"))", "MIBS=", Self.executable,
             "-f", "-Lf", service.path("snmpd.log"), "-C", "-c", service.path("snmpd.conf"),
             "-p", service.path("snmpd.pid")]
        }
    }

    func stop() { service.stop() }
}

/// ntpsec's ntpd on 127.0.0.1:123 (UDP only): no servers or pools, no clock
/// discipline (it never touches the system clock), queries from 127.0.0.1 only.
final class NTPServer {
    static let executable = "/usr/sbin/ntpd"
    let service: ServiceProcess
    private var daemon: UDPDaemon?

    init() throws {
        try requireExecutables([Self.executable], package: "ntpsec")
        let service = try ServiceProcess(name: "conformance-ntpd")
        self.service = service
        try service.write("""
            driftfile \(service.path("ntp.drift"))
            statsdir \(service.path(""))/
            interface ignore all
            interface ignore wildcard
            interface ignore ipv6
            interface listen 127.0.0.1
            disable kernel
            disable ntp
            restrict default ignore
            restrict 127.0.0.1

            """, to: "ntp.conf")
        daemon = try UDPDaemon(service: service, port: 123, executable: Self.executable, arguments: [
            "-4", "-n", "-c", service.path("ntp.conf"), "-p", service.path("ntpd.pid"), "-l", service.path("ntpd.log"),
        ])
    }

    func stop() { daemon?.stop() }
}
