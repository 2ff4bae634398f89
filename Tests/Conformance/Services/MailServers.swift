import Foundation

/// exim4 on 127.0.0.1:25 that accepts nothing: every RCPT and DATA is refused and it
/// has no routers or transports, so it can neither deliver nor relay a message.
/// STARTTLS with the suite's certificate.
final class SMTPServer {
    static let executable = "/usr/sbin/exim4"
    let service: ServiceProcess

    init(certificate: Certificate) throws {
        try requireExecutables([Self.executable], package: "exim4-daemon-light")
        let service = try ServiceProcess(name: "conformance-exim")
        self.service = service
        for directory in ["spool", "log"] {
            try FileManager.default.createDirectory(atPath: service.path(directory), withIntermediateDirectories: true)
        }
        try service.write("""
            primary_hostname = nsebox.test
            daemon_smtp_ports = 25
            local_interfaces = 127.0.0.1
            spool_directory = \(service.path("spool"))
            log_file_path = \(service.path("log"))/%slog
            exim_user = root
            exim_group = root
            never_users =
            keep_environment =
            host_lookup =
            rfc1413_hosts =
            smtp_accept_max = 200
            smtp_banner = $smtp_active_hostname ESMTP nsebox conformance
            tls_advertise_hosts = *
            tls_certificate = \(certificate.certificate)
            tls_privatekey = \(certificate.key)
            acl_smtp_rcpt = acl_check_rcpt
            acl_smtp_data = acl_check_data

            begin acl
            acl_check_rcpt:
              deny message = nothing is delivered here
            acl_check_data:
              deny message = nothing is accepted here

            begin routers
            begin transports

            """, to: "exim.conf")
        // -bdf: daemon in the foreground; no -q: no queue runner.
        try service.start(executable: Self.executable, ports: exactly(25), extraLogs: ["log/mainlog", "log/paniclog"]) { _ in
            ["-C", service.path("exim.conf"), "-bdf", "-oX", "25"]
        }
    }

    func stop() { service.stop() }
}

/// dovecot on 127.0.0.1:143 (IMAP) and 127.0.0.1:110 (POP3), STARTTLS with the
/// suite's certificate; nobody can log in to anything real.
final class IMAPPOPServer {
    static let executable = "/usr/sbin/dovecot"
    let service: ServiceProcess

    init(certificate: Certificate) throws {
        try requireExecutables([Self.executable], package: "dovecot-imapd dovecot-pop3d")
        let service = try ServiceProcess(name: "conformance-dovecot")
        self.service = service
        try service.write("""
            protocols = imap pop3
            listen = 127.0.0.1
            base_dir = \(service.path("run"))
            state_dir = \(service.path("state"))
            log_path = \(service.path("dovecot.log"))
            instance_name = nsebox-conformance
            ssl = yes
            ssl_cert = <\(certificate.certificate)
            ssl_key = <\(certificate.key)
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            login_greeting = nsebox conformance ready.
            passdb {
              driver = static
              args = password=nsebox-unused-\(UUID().uuidString)
            }
            userdb {
              driver = static
              args = uid=nobody gid=nogroup home=\(service.path("home"))
            }
            mail_location = maildir:\(service.path("mail"))/%u
            service imap-login {
              inet_listener imaps {
                port = 0
              }
            }
            service pop3-login {
              inet_listener pop3s {
                port = 0
              }
            }

            """, to: "dovecot.conf")
        try service.start(executable: Self.executable, ports: exactly(143), extraLogs: ["dovecot.log"]) { _ in
            ["-F", "-c", service.path("dovecot.conf")]
        }
        let deadline = Date().addingTimeInterval(10)
        while !loopbackAccepts(port: 110) && Date() < deadline { usleep(20_000) }
    }

    func stop() { service.stop() }
}
