import Foundation
import Testing

// Tests of the integration harness itself: the services really serve, nmap
// sees them, and the report helpers cut reports as documented.

@Suite("Integration harness")
struct HarnessTests {
    // MARK: Services

    @Test func nginxServesTheGivenTitle() throws {
        let title = "nsebox harness \(UUID().uuidString.prefix(6))"
        let nginx = try NginxService(title: title)
        let response = try loopbackExchange(port: nginx.port, send: "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200 OK"), "\(response)")
        #expect(response.contains("Server: nginx"), "\(response)")
        #expect(response.contains("<title>\(title)</title>"), "\(response)")

        let robots = try loopbackExchange(port: nginx.port, send: "GET /robots.txt HTTP/1.0\r\n\r\n")
        #expect(robots.hasPrefix("HTTP/1.1 200 OK"), "\(robots)")
        #expect(robots.contains("User-agent: *"), "\(robots)")
    }

    @Test func nginxOnHttpLikelyPortAndStopFreesIt() throws {
        let nginx = try NginxService(title: "likely", port: .httpLikely)
        #expect(NginxService.httpLikelyPorts.contains(nginx.port))
        let port = nginx.port
        #expect(loopbackAccepts(port: port))
        nginx.stop()
        #expect(!nginx.isRunning)
        #expect(!loopbackAccepts(port: port), "nginx still answers on \(port) after stop()")
    }

    @Test func releasingAServiceStopsIt() throws {
        var ssh: SSHService? = try SSHService()
        let port = try #require(ssh?.port)
        let directory = try #require(ssh?.directory)
        #expect(loopbackAccepts(port: port))
        ssh = nil
        #expect(!loopbackAccepts(port: port), "sshd still answers on \(port) after release")
        #expect(!FileManager.default.fileExists(atPath: directory.path))
    }

    @Test func sshdSendsAnOpenSSHBanner() throws {
        let ssh = try SSHService()
        let banner = try loopbackExchange(port: ssh.port, until: { $0.contains("\n") })
        #expect(banner.hasPrefix("SSH-2.0-OpenSSH"), "got \(banner.debugDescription)\n\(ssh.logText())")
        #expect(ssh.hostKeyPublic.hasPrefix("ssh-ed25519 "))
    }

    @Test func closedPortRefusesConnections() throws {
        let closed = try ClosedPort()
        #expect(closed.port > 0)
        #expect(!loopbackAccepts(port: closed.port))
    }

    @Test func serviceThatExitsReportsItsLog() throws {
        let service = try ServiceProcess(name: "failing")
        #expect {
            try service.start(executable: "/bin/sh", ports: { try freeLoopbackPort() }) { _ in
                ["-c", "echo 'boom: cannot listen' >&2; exit 3"]
            }
        } throws: { error in
            let text = "\(error)"
            return text.contains("did not come up") && text.contains("status 3") && text.contains("boom: cannot listen")
        }
    }

    @Test func serviceThatNeverListensTimesOut() throws {
        let service = try ServiceProcess(name: "silent")
        let started = Date()
        #expect {
            try service.start(
                executable: "/bin/sh", ports: { try freeLoopbackPort() }, startupTimeout: 0.5
            ) { _ in ["-c", "echo 'waiting forever'; exec sleep 30"] }
        } throws: { error in
            let text = "\(error)"
            return text.contains("no connection accepted within 0.5 s") && text.contains("waiting forever")
        }
        #expect(Date().timeIntervalSince(started) < 8)
        #expect(!service.isRunning)
    }

    // MARK: Runner

    @Test func runProcessCapturesOutputAndExitCode() throws {
        let result = try runProcess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(result.exitCode == 3)
    }

    @Test func runProcessKillsOnTimeout() throws {
        let started = Date()
        #expect {
            _ = try runProcess("/bin/sh", ["-c", "echo started; exec sleep 30"], timeout: 1)
        } throws: { error in
            guard case let RunError.timedOut(_, seconds, stdout, _) = error else { return false }
            return seconds == 1 && stdout == "started\n"
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    // MARK: nmap against the services

    @Test func nmapSeesNginxSshdAndAClosedPort() throws {
        let title = "nsebox harness page \(UUID().uuidString.prefix(6))"
        // http-title's portrule (shortport.http) only takes known HTTP ports
        // when there is no -sV, hence .httpLikely.
        let nginx = try NginxService(title: title, port: .httpLikely)
        let ssh = try SSHService()
        let closed = try ClosedPort()
        let ports = [nginx.port, ssh.port, closed.port]

        let result = try runNmap([
            "-sT", "-Pn", "-n", "--script", "banner,http-title",
            "-p", ports.map(String.init).joined(separator: ","), "127.0.0.1",
        ])
        #expect(result.exitCode == 0, "\(result)")
        let body = reportBody(result.stdout)
        let context = "nmap output:\n\(result.stdout)\nnginx:\n\(nginx.logText())\nsshd:\n\(ssh.logText())"

        #expect(body.first == "Nmap scan report for 127.0.0.1", "\(context)")
        #expect(body.contains("Host is up."), "\(context)")
        #expect(!body.contains { $0.contains("latency") }, "\(context)")
        #expect(body.last.map { !$0.isEmpty } == true)

        let portLines = body.filter(isPortLine)
        func row(_ port: Int) -> String? { portLines.first { $0.hasPrefix("\(port)/tcp ") } }
        #expect(portLines.count == 3, "\(context)")
        #expect(portLines.map { Int($0.prefix { $0 != "/" }) ?? 0 } == ports.sorted(), "\(context)")
        #expect(row(nginx.port)?.split(separator: " ").dropFirst().first == "open", "\(context)")
        #expect(row(ssh.port)?.split(separator: " ").dropFirst().first == "open", "\(context)")
        #expect(row(closed.port)?.split(separator: " ").dropFirst().first == "closed", "\(context)")

        let blocks = scriptBlocks(body)
        let nginxRow = try #require(row(nginx.port), "\(context)")
        let sshRow = try #require(row(ssh.port), "\(context)")
        let closedRow = try #require(row(closed.port), "\(context)")
        #expect(blocks[nginxRow] == ["|_http-title: \(title)"], "\(context)")
        let sshBlocks = blocks[sshRow] ?? []
        #expect(sshBlocks.count == 1, "\(context)")
        #expect(sshBlocks.first?.hasPrefix("|_banner: SSH-2.0-OpenSSH") == true, "\(context)")
        #expect(blocks[closedRow] == nil, "\(context)")

        // The report compares equal to itself and differs from a tampered copy.
        #expect(reportDifferences(expected: body, actual: body).isEmpty)
        let tampered = body.map { $0.hasPrefix("|_http-title:") ? "|_http-title: something else" : $0 }
        #expect(reportDifferences(expected: body, actual: tampered).count == 2)
    }

    // MARK: Report helpers on fixed text

    static let sampleReport = """
        Starting Nmap 7.93 ( https://nmap.org ) at 2026-11-26 17:00 UTC
        Nmap scan report for 127.0.0.1
        Host is up (0.00012s latency).

        PORT     STATE  SERVICE
        22/tcp   open   ssh
        | ssh-hostkey: 
        |   256 aa:bb (ECDSA)
        |_  256 cc:dd (ED25519)
        |_banner: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3
        80/tcp   open   http
        |_http-title: Hello
        81/tcp   closed hosts2-ns

        Host script results:
        |_fake-host: yes

        Nmap done: 1 IP address (1 host up) scanned in 0.15 seconds

        """

    @Test func reportBodyCutsAndNormalizes() {
        let body = reportBody(Self.sampleReport)
        #expect(body.first == "Nmap scan report for 127.0.0.1")
        #expect(body[1] == "Host is up.")
        #expect(body.last == "|_fake-host: yes")
        #expect(body.count == 15)
        #expect(!body.contains { $0.hasPrefix("Nmap done") || $0.hasPrefix("Starting Nmap") })
        #expect(reportBody("Host is up, received user-set (0.000088s latency).\n").isEmpty)
        #expect(reportBody("Nmap scan report for x\nHost is up, received user-set (0.000088s latency).\n\nNmap done")
            == ["Nmap scan report for x", "Host is up, received user-set."])
        #expect(reportBody("no report here").isEmpty)
    }

    @Test func scriptBlocksGroupByPortAndIgnoreOrder() {
        let body = reportBody(Self.sampleReport)
        let blocks = scriptBlocks(body)
        #expect(blocks["22/tcp   open   ssh"] == [
            "| ssh-hostkey: \n|   256 aa:bb (ECDSA)\n|_  256 cc:dd (ED25519)",
            "|_banner: SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        ].sorted())
        #expect(blocks["80/tcp   open   http"] == ["|_http-title: Hello"])
        #expect(blocks["81/tcp   closed hosts2-ns"] == nil)
        #expect(blocks["Host script results:"] == ["|_fake-host: yes"])

        // Same report with the two ssh-port scripts swapped: equal blocks.
        var swapped = body
        let banner = swapped.remove(at: 8)
        swapped.insert(banner, at: 5)
        #expect(swapped != body)
        #expect(scriptBlocks(swapped) == blocks)
        #expect(reportDifferences(expected: body, actual: swapped).isEmpty)

        // Moving a script under another port is a difference.
        var moved = body
        let title = moved.remove(at: 10)
        moved.insert(title, at: 5)
        #expect(!reportDifferences(expected: body, actual: moved).isEmpty)
    }
}
