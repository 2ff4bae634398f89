import Foundation
import Testing

/// A login account that exists only while a test holds it: no home, no shell,
/// a random password. Needs root (useradd, chpasswd, userdel).
final class TemporaryAccount {
    let name: String
    let password: String

    init() throws {
        name = "nsebox-t" + UUID().uuidString.prefix(6).lowercased()
        password = "pw-" + UUID().uuidString.prefix(12)
        let add = try runProcess("/usr/sbin/useradd", ["-M", "-N", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", name])
        guard add.exitCode == 0 else { throw ServiceError.setup("useradd \(name) failed: \(add.stderr)") }
        let set = try runProcess("/bin/sh", ["-c", "echo '\(name):\(password)' | /usr/sbin/chpasswd"])
        guard set.exitCode == 0 else {
            remove()
            throw ServiceError.setup("chpasswd for \(name) failed: \(set.stderr)")
        }
    }

    func remove() { _ = try? runProcess("/usr/sbin/userdel", [name]) }
    deinit { remove() }
}

/// An ECDSA key pair in `dir` (PEM: the private key format libssh2 1.10 reads
/// from memory); the private key's path.
func clientKey(in dir: URL) throws -> String {
    let key = dir.appendingPathComponent("id_ecdsa").path
    let keygen = try runProcess("/usr/bin/ssh-keygen", ["-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "", "-f", key])
    guard keygen.exitCode == 0 else { throw ServiceError.setup("ssh-keygen failed: \(keygen.stderr)") }
    return key
}

/// nmap's four libssh2 scripts (libssh2-utility) against a real sshd, with nmap
/// run on the same server: the SSH session runs in the sandboxed child, its bytes
/// through the broker; key files and word lists are files named in script args.
@Suite("libssh2 scripts against nmap")
struct LibSSH2Tests {
    @Test(.enabled(if: getuid() == 0, "needs root: a temporary account and root's key login"))
    func libssh2ScriptsMatchNmap() throws {
        let dir = try scratchDirectory("ssh2")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = try clientKey(in: dir)
        let account = try TemporaryAccount()
        let ssh = try SSHService(logins: .init(authorizedKeys: try String(contentsOfFile: key + ".pub", encoding: .utf8),
                                               passwords: true))
        let users = dir.appendingPathComponent("users.lst").path
        let passwords = dir.appendingPathComponent("passwords.lst").path
        try "root\n\(account.name)\n".write(toFile: users, atomically: true, encoding: .utf8)
        try "wrong-one\n\(account.password)\n".write(toFile: passwords, atomically: true, encoding: .utf8)

        // The scripts' portrule wants port 22 or the service name "ssh": a data
        // directory whose nmap-services names the test's port (nmap and nsebox
        // both search --datadir first).
        try "ssh\t\(ssh.port)/tcp\t0.5\n".write(toFile: dir.appendingPathComponent("nmap-services").path,
                                              atomically: true, encoding: .utf8)
        let common = ["--datadir", dir.path, "-p", "\(ssh.port)", "--script-args",
                      "userdb=\(users),passdb=\(passwords),ssh.usernames={'root','\(account.name)'},"
                        + "ssh.privatekeys={'\(key)'},ssh.publickeys={'\(key).pub'},"
                        + "ssh-run.cmd=echo nsebox ssh-run,ssh-run.username=root,ssh-run.privatekey=\(key)",
                      "127.0.0.1"]
        // ssh-brute's statistics line carries its timing: keep only its start.
        func comparable(_ text: String) -> [String] {
            reportBody(text).map { line in
                line.range(of: "Statistics: Performed").map { String(line[..<$0.upperBound]) } ?? line
            }
        }
        // One script per nmap run: nmap 7.93 crashes (SIGSEGV or abort, before its
        // report) when these scripts' libssh2 sessions run at once.
        let scripts = ["ssh-auth-methods", "ssh-brute", "ssh-publickey-acceptance", "ssh-run"]
        var nmapBlocks: [String] = []
        for script in scripts {
            // nmap itself sometimes crashes even on one of them: up to three tries.
            var nmap = try runNmap(["-sT", "-Pn", "-n", "--script", script] + common)
            for _ in 0..<2 where nmap.exitCode != 0 { nmap = try runNmap(["-sT", "-Pn", "-n", "--script", script] + common) }
            let ours = try runNsebox(["--policy", "permissive", "--script", script] + common)
            #expect(nmap.exitCode == 0 && ours.exitCode == 0, "\(script): \(nmap.stderr) \(ours.stderr)")
            #expect(reportDifferences(expected: comparable(nmap.stdout), actual: comparable(ours.stdout)) == [],
                    "\(script)\nnmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
            nmapBlocks += scriptBlocks(comparable(nmap.stdout)).values.flatMap { $0 }
        }
        // nsebox runs all four at once, each in its own process, with the same results.
        let together = try runNsebox(["--policy", "permissive", "--script", scripts.joined(separator: ",")] + common)
        #expect(together.exitCode == 0, "\(together.stderr)")
        let actual = comparable(together.stdout)
        #expect(actual.contains("|     \(account.name):\(account.password) - Valid credentials"), "\(together.stdout)")
        #expect(actual.contains("|     Key \(key) accepted for user root"), "\(together.stdout)")
        #expect(actual.contains("|_    nsebox ssh-run"), "\(together.stdout)")
        #expect(actual.contains { $0.hasSuffix("    password") }, "\(together.stdout)")
        #expect(scriptBlocks(actual).values.flatMap { $0 }.sorted() == nmapBlocks.sorted(),
                "nsebox:\n\(together.stdout)\nnmap's blocks:\n\(nmapBlocks.joined(separator: "\n"))")
    }

    /// A key file nobody named in the arguments stays unreadable: the login fails
    /// as with a missing file, and nothing of the file reaches the script.
    @Test(.enabled(if: getuid() == 0, "needs root: root's key login"))
    func keyFilesNotNamedInArgumentsAreUnreadable() throws {
        let dir = try scratchDirectory("ssh2")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = try clientKey(in: dir)
        let ssh = try SSHService(logins: .init(authorizedKeys: try String(contentsOfFile: key + ".pub", encoding: .utf8)))
        let script = dir.appendingPathComponent("unnamed-key.nse").path
        try """
            description = "Test script: logs in with a key file the user did not name."
            categories = {"safe"}
            portrule = function() return true end
            action = function(host, port)
              local libssh2 = require "libssh2"
              local s = libssh2.session_open(host, port.number)
              local ok = libssh2.userauth_publickey(s, "root", "\(key)")
              local readable = io.open("\(key)") ~= nil
              return ("login: %s; readable: %s"):format(tostring(ok), tostring(readable))
            end
            """.write(toFile: script, atomically: true, encoding: .utf8)
        let ours = try runNsebox(["-p", "\(ssh.port)", "--script", script, "127.0.0.1"])
        #expect(reportBody(ours.stdout).contains("|_unnamed-key: login: false; readable: false"), "\(ours.stdout)\n\(ours.stderr)")
        let named = try runNsebox(["-p", "\(ssh.port)", "--script", script, "--script-args", "key=\(key)", "127.0.0.1"])
        #expect(reportBody(named.stdout).contains("|_unnamed-key: login: true; readable: true"), "\(named.stdout)\n\(named.stderr)")
    }
}
