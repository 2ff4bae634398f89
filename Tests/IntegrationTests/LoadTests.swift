import Foundation
import Glibc
import Testing

/// Listening sockets on one port of many loopback addresses (127.0.0.1 up), never
/// accepting: the kernel completes each connection into the backlog, so every
/// connect succeeds and stays open until the client closes it.
final class LoopbackListeners {
    let port: Int
    let addresses: [String]
    private let fds: [Int32]

    init(count: Int) throws {
        let addresses = (0..<count).map { "127.0.\(($0 + 1) / 256).\(($0 + 1) % 256)" }
        self.addresses = addresses
        for _ in 0..<20 {
            let candidate = Int.random(in: 20000...60000)
            if let bound = Self.bindAll(addresses, candidate) { port = candidate; fds = bound; return }
        }
        throw ServiceError.setup("no port free on \(count) loopback addresses")
    }

    /// Listening sockets on `port` of every address, or nil (none left open).
    private static func bindAll(_ addresses: [String], _ port: Int) -> [Int32]? {
        var fds: [Int32] = []
        for address in addresses {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd >= 0 { fds.append(fd) }
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, address, &a.sin_addr)
            let ok = fd >= 0 && withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            } == 0
            guard ok, listen(fd, 64) == 0 else {
                for fd in fds { close(fd) }
                return nil
            }
        }
        return fds
    }

    deinit { for fd in fds { close(fd) } }
}

/// 500 script instances alive at once, each a process holding a connection and
/// sleeping: all complete under the default policy, and the broker's descriptors
/// and memory come back to where they were before the scripts ran.
@Suite("Load")
struct LoadTests {
    @Test func fiveHundredInstancesAtOnceLeaveTheBrokerAsItWas() throws {
        let listeners = try LoopbackListeners(count: 500)
        let ours = try runNsebox(["--max-children", "500", "--script", testScripts("load") + "hold.nse",
                                  "-p", "\(listeners.port)"] + listeners.addresses,
                                 environment: ["NSEBOX_BROKER_STATS": "1"], timeout: 300)
        #expect(ours.exitCode == 0, "\(ours.stderr.suffix(2000))")
        let held = ours.stdout.components(separatedBy: "\n").filter { $0 == "|_hold: held" }.count
        #expect(held == 500, "\(held) of 500 instances held their connection\n\(ours.stderr.suffix(2000))")
        // "nsebox broker: PHASE: N descriptors, M KiB resident"
        func stats(_ phase: String) -> (fds: Int, kib: Int)? {
            guard let line = ours.stderr.components(separatedBy: "\n").first(where: { $0.hasPrefix("nsebox broker: \(phase): ") })
            else { return nil }
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return numbers.count >= 2 ? (numbers[numbers.count - 2], numbers[numbers.count - 1]) : nil
        }
        let before = try #require(stats("after pre-scan"), "\(ours.stderr.suffix(2000))")
        let after = try #require(stats("after host scripts"))
        #expect(after.fds == before.fds, "descriptors: \(before.fds) before the 500 instances, \(after.fds) after")
        #expect(after.kib - before.kib < 16 * 1024, "resident memory grew from \(before.kib) KiB to \(after.kib) KiB")
        // "nsebox broker: CPU: broker B ms, zygote Z ms, instances I ms (N instances)",
        // once the zygote has been reaped: every instance's CPU counted (and any
        // forked ahead and not needed), and the zygote's own apart from theirs.
        let cpuLine = try #require(ours.stderr.components(separatedBy: "\n").first(where: { $0.hasPrefix("nsebox broker: CPU: ") }),
                                   "\(ours.stderr.suffix(2000))")
        let cpu = cpuLine.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        #expect(cpu.count == 4 && cpu[3] >= 500, "\(cpuLine)")
        #expect(cpu.count == 4 && cpu[0] > 0 && cpu[1] > 0 && cpu[2] > cpu[1], "\(cpuLine)")
        print("load: 500 instances; broker before: \(before.fds) descriptors, \(before.kib) KiB; after: \(after.fds), \(after.kib) KiB")
    }
}
