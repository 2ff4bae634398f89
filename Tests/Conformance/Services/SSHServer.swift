import Foundation

/// OpenSSH's sshd on 127.0.0.1:22 with throwaway RSA, ECDSA and Ed25519 host keys.
/// Nobody can log in (no passwords, no keys, no PAM).
final class SSHServer {
    let service: ServiceProcess

    init() throws {
        try requireExecutables([SSHService.executable, SSHService.keygen], package: "openssh-server")
        if !FileManager.default.fileExists(atPath: SSHService.privilegeSeparationDirectory) {
            try FileManager.default.createDirectory(
                atPath: SSHService.privilegeSeparationDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o755])
        }
        let service = try ServiceProcess(name: "conformance-sshd")
        self.service = service
        var hostKeys = ""
        for (type, bits) in [("rsa", "2048"), ("ecdsa", "256"), ("ed25519", "")] {
            let key = service.path("ssh_host_\(type)_key")
            try runSetup(SSHService.keygen, ["-q", "-t", type] + (bits.isEmpty ? [] : ["-b", bits])
                         + ["-N", "", "-C", "nsebox-conformance", "-f", key])
            hostKeys += "HostKey \(key)\n"
        }
        try service.write("""
            ListenAddress 127.0.0.1
            Port 22
            \(hostKeys)PidFile \(service.path("sshd.pid"))
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication no
            AuthorizedKeysFile none
            PermitRootLogin no
            MaxStartups 200
            LoginGraceTime 30

            """, to: "sshd_config")
        try service.start(executable: SSHService.executable, ports: exactly(22)) { _ in
            ["-D", "-e", "-f", service.path("sshd_config")]
        }
    }

    func stop() { service.stop() }
}
