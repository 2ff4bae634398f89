import Foundation

/// vsftpd on 127.0.0.1:21: anonymous, read-only, passive mode on 127.0.0.1 only.
final class FTPServer {
    static let executable = "/usr/sbin/vsftpd"
    let service: ServiceProcess

    init() throws {
        try requireExecutables([Self.executable], package: "vsftpd")
        let service = try ServiceProcess(name: "conformance-vsftpd")
        self.service = service
        try service.write("Welcome to the nsebox conformance FTP server.\n", to: "root/README")
        try service.write("data\n", to: "root/pub/data.txt")
        try FileManager.default.createDirectory(atPath: service.path("empty"), withIntermediateDirectories: true)
        // vsftpd insists on a root-owned config file (we are root) and a chroot dir.
        try service.write("""
            listen=YES
            listen_ipv6=NO
            listen_address=127.0.0.1
            listen_port=21
            background=NO
            anonymous_enable=YES
            local_enable=NO
            write_enable=NO
            anon_root=\(service.path("root"))
            no_anon_password=YES
            secure_chroot_dir=\(service.path("empty"))
            xferlog_enable=NO
            vsftpd_log_file=\(service.path("vsftpd.log"))
            seccomp_sandbox=NO
            pasv_enable=YES
            pasv_address=127.0.0.1
            pasv_min_port=30000
            pasv_max_port=30999
            port_enable=NO
            connect_from_port_20=NO
            max_per_ip=100
            max_clients=200
            ftpd_banner=nsebox conformance FTP

            """, to: "vsftpd.conf")
        try service.start(executable: Self.executable, ports: exactly(21)) { _ in [service.path("vsftpd.conf")] }
    }

    func stop() { service.stop() }
}
