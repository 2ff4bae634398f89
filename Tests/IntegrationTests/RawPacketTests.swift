import Foundation
import Glibc
import Testing

/// A test host in a network namespace of its own, reached over a veth pair:
/// 198.18.N.1/24 here, 198.18.N.2/24 there (RFC 2544's benchmarking range, never
/// another address), with a TCP listener on port 8080 there. Removed on deinit.
final class NamespaceHost {
    let namespace: String
    let hostSide: String
    let address: String
    let localAddress: String
    private var listener: ChildProcess?
    private let scratch: URL
    /// Held while its interfaces exist (released after deinit's clean-up).
    private let interfaces = InterfacesLock(exclusive: false)

    init() throws {
        let tag = Int(getpid()) % 10_000 * 10 + Int.random(in: 0..<10)
        namespace = "nsebox-raw-\(tag)"
        hostSide = "nbx\(tag)a"
        let nsSide = "nbx\(tag)b"
        let net = tag % 250 + 1
        localAddress = "198.18.\(net).1"
        address = "198.18.\(net).2"
        scratch = try scratchDirectory("netns")
        try Self.ip(["netns", "add", namespace])
        do {
            try Self.ip(["link", "add", hostSide, "type", "veth", "peer", "name", nsSide])
            try Self.ip(["link", "set", nsSide, "netns", namespace])
            try Self.ip(["addr", "add", localAddress + "/24", "dev", hostSide])
            try Self.ip(["link", "set", hostSide, "up"])
            try Self.ip(["-n", namespace, "addr", "add", address + "/24", "dev", nsSide])
            try Self.ip(["-n", namespace, "link", "set", nsSide, "up"])
            try Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            listener = try Self.listen(in: namespace, on: address, log: scratch.appendingPathComponent("listener.log").path)
        } catch {
            cleanUp()
            throw error
        }
    }

    /// The MAC address of the namespace's end, as its kernel reports it.
    func remoteMAC() throws -> String {
        let r = try runProcess("/usr/sbin/ip", ["-n", namespace, "-o", "link", "show", hostSide.dropLast() + "b"])
        let words = r.stdout.split(separator: " ")
        guard let i = words.firstIndex(of: "link/ether"), i + 1 < words.count else { throw RunError.cannotRun(command: ["ip"], reason: r.stdout) }
        return words[i + 1].uppercased()
    }

    deinit { cleanUp() }

    private func cleanUp() {
        listener?.terminate(grace: 1)
        listener = nil
        _ = try? runProcess("/usr/sbin/ip", ["link", "del", hostSide])
        _ = try? runProcess("/usr/sbin/ip", ["netns", "del", namespace])
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A TCP listener on ADDRESS:8080 inside `namespace` (accepts and closes),
    /// once it accepts.
    static func listen(in namespace: String, on address: String, log: String) throws -> ChildProcess {
        let listener = try ChildProcess(executable: "/usr/sbin/ip", arguments: [
            "netns", "exec", namespace, "python3", "-c",
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('\(address)',8080))\ns.listen(64)\nwhile True:\n  c,_=s.accept()\n  c.close()\n",
        ], stdoutPath: log, stderrPath: log)
        for _ in 0..<100 where !accepts(address, 8080) { usleep(50_000) }
        return listener
    }

    static func ip(_ args: [String]) throws {
        let r = try runProcess("/usr/sbin/ip", args)
        guard r.exitCode == 0 else { throw RunError.cannotRun(command: ["ip"] + args, reason: r.stderr) }
    }

    static func accepts(_ address: String, _ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &a.sin_addr)
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }
}

/// A test host one router away: this side 198.18.N.1/24, a router namespace
/// (198.18.N.2 and 198.18.M.1, forwarding, dropping TCP to port 8082), and the
/// host namespace at 198.18.M.2 with a listener on port 8080. Removed on deinit.
final class RoutedHost {
    let router: String
    let target: String
    let hostSide: String
    let address: String
    let routerAddress: String
    private let subnet: String
    private var listener: ChildProcess?
    private let scratch: URL
    /// Held while its interfaces exist (released after deinit's clean-up).
    private let interfaces = InterfacesLock(exclusive: false)

    init() throws {
        let tag = Int(getpid()) % 10_000 * 10 + Int.random(in: 0..<10)
        router = "nsebox-rtr-\(tag)"
        target = "nsebox-dst-\(tag)"
        hostSide = "nbr\(tag)a"
        let near = tag % 120 * 2 + 2, far = near + 1
        routerAddress = "198.18.\(near).2"
        address = "198.18.\(far).2"
        subnet = "198.18.\(far).0/24"
        scratch = try scratchDirectory("routed")
        let ip = NamespaceHost.ip
        try ip(["netns", "add", router])
        do {
            try ip(["netns", "add", target])
            try ip(["link", "add", hostSide, "type", "veth", "peer", "name", "nbr\(tag)b"])
            try ip(["link", "set", "nbr\(tag)b", "netns", router])
            try ip(["-n", router, "link", "add", "nbr\(tag)c", "type", "veth", "peer", "name", "nbr\(tag)d"])
            try ip(["-n", router, "link", "set", "nbr\(tag)d", "netns", target])
            try ip(["addr", "add", "198.18.\(near).1/24", "dev", hostSide])
            try ip(["link", "set", hostSide, "up"])
            try ip(["-n", router, "addr", "add", routerAddress + "/24", "dev", "nbr\(tag)b"])
            try ip(["-n", router, "addr", "add", "198.18.\(far).1/24", "dev", "nbr\(tag)c"])
            for dev in ["nbr\(tag)b", "nbr\(tag)c", "lo"] { try ip(["-n", router, "link", "set", dev, "up"]) }
            try ip(["-n", target, "addr", "add", address + "/24", "dev", "nbr\(tag)d"])
            for dev in ["nbr\(tag)d", "lo"] { try ip(["-n", target, "link", "set", dev, "up"]) }
            try ip(["-n", target, "route", "add", "default", "via", "198.18.\(far).1"])
            try ip(["route", "add", subnet, "via", routerAddress])
            for command in [["sysctl", "-qw", "net.ipv4.ip_forward=1"],
                            ["iptables", "-A", "FORWARD", "-p", "tcp", "--dport", "8082", "-j", "DROP"]] {
                let r = try runProcess("/usr/sbin/ip", ["netns", "exec", router] + command)
                guard r.exitCode == 0 else { throw RunError.cannotRun(command: command, reason: r.stderr) }
            }
            listener = try NamespaceHost.listen(in: target, on: address, log: scratch.appendingPathComponent("listener.log").path)
        } catch {
            cleanUp()
            throw error
        }
    }

    deinit { cleanUp() }

    private func cleanUp() {
        listener?.terminate(grace: 1)
        listener = nil
        _ = try? runProcess("/usr/sbin/ip", ["route", "del", subnet])
        _ = try? runProcess("/usr/sbin/ip", ["link", "del", hostSide])
        _ = try? runProcess("/usr/sbin/ip", ["netns", "del", target])
        _ = try? runProcess("/usr/sbin/ip", ["netns", "del", router])
        try? FileManager.default.removeItem(at: scratch)
    }
}

/// Raw packets through the broker, against a test host in a network namespace,
/// with nmap run live on the same host (root only: raw sockets and namespaces).
@Suite("Raw packets", .serialized, .enabled(if: geteuid() == 0, "needs root for raw sockets and network namespaces"))
struct RawPacketTests {
    /// The lines of one script's block in a report.
    static func block(_ id: String, _ report: String) -> [String] {
        var out: [String] = []
        for line in report.split(separator: "\n").map(String.init) {
            if line.hasPrefix("| \(id):") || line.hasPrefix("|_\(id):") { out = [line]; if line.hasPrefix("|_") { break }; continue }
            if !out.isEmpty { out.append(line); if line.hasPrefix("|_") { break } }
        }
        return out
    }

    @Test func ipidseqAndAnEthernetArpProbeMatchNmap() throws {
        let host = try NamespaceHost()
        let script = testScripts("raw") + "arp-probe.nse"
        let args = ["-Pn", "-p", "8080,8081", "--script", "ipidseq," + script]
        let nmap = try runNmap(args + [host.address])
        let ours = try runNsebox(args + [host.address])
        #expect(ours.exitCode == 0, "\(ours)")
        let mac = try host.remoteMAC().lowercased().replacingOccurrences(of: ":", with: "")
        for id in ["ipidseq", "arp-probe"] {
            let theirs = Self.block(id, nmap.stdout)
            #expect(!theirs.isEmpty, "nmap printed no \(id):\n\(nmap.stdout)\n\(nmap.stderr)")
            #expect(Self.block(id, ours.stdout) == theirs, "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
        }
        #expect(ours.stdout.contains("ARP reply from \(host.address): \(mac)"), "\(ours.stdout)")

        // The NSE book's form: a hash function and pcap_register; nmap 7.93 lacks it.
        let register = try runNsebox(["-Pn", "-p", "8080", "--script", script, "--script-args", "arp-probe.form=register",
                                      host.address])
        #expect(register.stdout.contains("|_arp-probe: ARP reply from \(host.address): \(mac)"), "\(register)")
    }

    /// qscan times probes to an open and a closed port (pcap receive times against
    /// send times): the numbers are measurements, so the table's shape is compared.
    @Test func qscanMeasuresTheSamePortsAsNmap() throws {
        let host = try NamespaceHost()
        let args = ["-Pn", "-p", "8080,8081", "--script", "qscan", "--script-args", "qscan.numtrips=4,qscan.delay=50ms",
                    host.address]
        let nmap = try runNmap(args)
        let ours = try runNsebox(args)
        func shape(_ report: String) -> [String] {
            Self.block("qscan", report).map { line in
                // "| 8080  0  87.60  9.83  0.0%": the port and the loss (the family is a
                // clustering of the times); the header's words.
                let words = line.drop { $0 == "|" || $0 == "_" }.split(separator: " ")
                if words.count == 5, Int(words[0]) != nil { return "\(words[0]) \(words[4])" }
                return words.joined(separator: " ") // column widths follow the numbers
            }
        }
        #expect(shape(nmap.stdout).count == 4, "\(nmap.stdout)")
        #expect(shape(ours.stdout) == shape(nmap.stdout), "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    /// As a normal user (nobody here), raw scripts skip themselves as under an
    /// unprivileged nmap, and connect-style scripts still run.
    @Test func asANormalUserRawScriptsSkipAndConnectScriptsRun() throws {
        let ssh = try SSHService()
        let args = ["-Pn", "-p", "\(ssh.port)", "--script", "ipidseq,+banner", "127.0.0.1"]
        let asNobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        let nmap = try runProcess("/usr/bin/setpriv", asNobody + ["/usr/bin/nmap"] + args)
        let ours = try runProcess("/usr/bin/setpriv", asNobody + [try nseboxExecutableURL().path] + args)
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(Self.block("banner", ours.stdout).first?.hasPrefix("|_banner: SSH-2.0-OpenSSH") == true, "\(ours)")
        #expect(Self.block("banner", ours.stdout) == Self.block("banner", nmap.stdout), "nmap:\n\(nmap)\nnsebox:\n\(ours)")
        #expect(Self.block("ipidseq", ours.stdout).isEmpty && Self.block("ipidseq", nmap.stdout).isEmpty,
                "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)")
    }

    /// firewalk sends TTL-limited probes past the router and listens for its ICMP
    /// time-exceeded messages. nsebox has no traceroute of its own, so it takes the
    /// hosts, ports and hops from nmap's XML of the same host (--nmap-xml).
    @Test func firewalkFindsTheRoutersBlockedPortAsNmapDoes() throws {
        let routed = try RoutedHost()
        let dir = try scratchDirectory("firewalk")
        defer { try? FileManager.default.removeItem(at: dir) }
        let xml = dir.appendingPathComponent("scan.xml").path
        let nmap = try runNmap(["-Pn", "--traceroute", "-p", "8080-8082", "--script", "firewalk", "-oX", xml, routed.address])
        let theirs = Self.block("firewalk", nmap.stdout)
        #expect(theirs.last?.hasSuffix("\(routed.routerAddress)  tcp       8082") == true, "\(nmap.stdout)\n\(nmap.stderr)")
        let ours = try runNsebox(["--nmap-xml", xml, "--script", "firewalk"])
        #expect(ours.exitCode == 0, "\(ours)")
        #expect(Self.block("firewalk", ours.stdout) == theirs, "nmap:\n\(nmap.stdout)\nnsebox:\n\(ours.stdout)\n\(ours.stderr)")
    }

    @Test func rawPacketsAreRecordedAndGoOnlyToHostsUnderScan() throws {
        let host = try NamespaceHost()
        let dir = try scratchDirectory("raw-audit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("audit.jsonl").path
        let ours = try runNsebox(["-Pn", "-p", "8080", "--script", "ipidseq", "--audit-log", log, host.address])
        #expect(ours.stdout.contains("ipidseq:"), "\(ours)")
        let records = try auditLines(log).map(auditRecord)
        let open = try #require(records.first { $0["event"] as? String == "pcap_open" }, "no pcap_open record")
        // Narrowed to the host under scan and the ICMP errors about packets to it.
        #expect((open["filter"] as? String)?.hasPrefix("(host \(host.address) or (icmp and ") == true, "\(open)")
        #expect((open["filter"] as? String)?.hasSuffix(") and (" + (open["bpf"] as? String ?? "?") + ")") == true, "\(open)")
        #expect(records.contains { $0["event"] as? String == "raw_send" && $0["destination"] as? String == host.address })
        #expect(records.contains { $0["event"] as? String == "packet" && ($0["bytes"] as? Int ?? 0) > 20 })
        // A replay stays off the network: the capture is a departure, named.
        let replay = try runNsebox(["replay", log])
        #expect(replay.exitCode == 1 && replay.stderr.contains("opens a packet capture: raw packets are not replayed"),
                "\(replay)")
        let pcap = dir.appendingPathComponent("raw.pcapng").path
        #expect(try runNsebox(["audit", "pcap", log, "-o", pcap]).exitCode == 0)
        let read = try runProcess("/usr/bin/tshark", ["-r", pcap, "-Y", "tcp.flags.syn == 1 && ip.dst == \(host.address)"])
        #expect(read.stdout.contains(host.address), "\(read)")

        // A raw packet to an address not under scan is refused by the broker.
        let stray = try runNsebox(["-Pn", "-p", "8080", "--script", testScripts("raw") + "stray-send.nse", host.address])
        #expect(stray.stdout.contains("|_stray-send: refused: nsebox: \(host.localAddress) is not a host under scan"), "\(stray)")
        #expect(stray.stderr.contains("ip_send to"), "\(stray.stderr)")
    }
}
