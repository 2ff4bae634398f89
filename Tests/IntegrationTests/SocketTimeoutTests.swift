import Foundation
import Glibc
import Testing

/// A TCP server on 127.0.0.1 that answers each line "N" with "ok" after N
/// milliseconds and never answers any other line; a thread per connection.
final class DelayedAnswers {
    let port: Int
    private let listening: ListeningPorts

    init() throws {
        listening = try ListeningPorts(count: 1)
        port = listening.ports[0]
        let fd = listening.fds[0]
        Thread.detachNewThread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { if errno == EINTR { continue } else { return } }
                Thread.detachNewThread { DelayedAnswers.serve(client) }
            }
        }
    }

    private static func serve(_ fd: Int32) {
        defer { close(fd) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1 {
            guard byte == UInt8(ascii: "\n") else { line.append(byte); continue }
            if let ms = UInt32(String(decoding: line, as: UTF8.self)) {
                usleep(ms * 1000)
                guard write(fd, "ok\n", 3) == 3 else { return }
            }
            line = []
        }
    }
}

@Suite("Socket timeouts")
struct SocketTimeoutTests {
    /// Operations on one socket that outlast the deadlines of those before them
    /// succeed, and a shorter timeout set later is the one that ends a receive,
    /// as in nmap (nsebox keeps one timer per socket and moves its deadline).
    @Test func eachOperationHasTheTimeoutSetWhenItStarts() throws {
        let server = try DelayedAnswers()
        let args = ["--script", testScripts("timeouts") + "socket-timeouts.nse", "-p", String(server.port), "127.0.0.1"]
        let expected = "|_socket-timeouts: ok ok ok ok TIMEOUT, within the last timeout"
        let ours = try runNsebox(args, timeout: 90)
        #expect(ours.stdout.contains(expected), "\(ours.stdout)\n\(ours.stderr)")
        let nmap = try runNmap(["-sT", "-Pn", "-n"] + args, timeout: 90)
        #expect(nmap.stdout.contains(expected), "nmap:\n\(nmap.stdout)")
    }
}
