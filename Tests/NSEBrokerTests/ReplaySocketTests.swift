@testable import NSEBroker
import NSEWire
import Testing

/// ReplaySocket alone: answers from a recorded conversation, departs where the
/// script does something else.
@Suite struct ReplaySocketTests {
    static let http = Array("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: b\r\n\r\n".utf8)
    static let page = Array("HTTP/1.1 200 OK\r\n\r\n<title>x</title>".utf8)

    static func instance() -> Recording.Instance {
        var i = Recording.Instance(label: "http-title#3", script: "http-title", rule: "portrule",
                                   target: "127.0.0.1:80/tcp", scriptSHA256: "", seed: [])
        i.conversations = [Recording.Conversation(socket: 1, events: [
            .connect(protocol: "tcp", source: "127.0.0.1:40000", destination: "127.0.0.1:80", result: "ok"),
            .send(http), .receive(page, result: ""), .receive(nil, result: "EOF"), .close,
        ])]
        return i
    }

    /// Runs `body` on a socket of a replayed instance; returns the replies and departures.
    static func run(_ body: (ReplaySocket, @escaping ([Value]) -> Void) -> Void) -> ([[Value]], [String]) {
        let script = ReplayScript(recorded: instance(), script: "http-title", target: "127.0.0.1:80/tcp")
        var departures: [String] = []
        script.onDepart = { departures.append($0) }
        var replies: [[Value]] = []
        body(script.socket(id: 1)) { replies.append($0) }
        return (replies, departures)
    }

    @Test func theRecordedConversationIsAnsweredInOrder() {
        let (replies, departures) = Self.run { s, reply in
            s.connect(to: SocketAddress(ip: "127.0.0.1", port: 80)!, from: nil, udp: false, tls: false, reply: reply)
            s.info(reply: reply)
            // The same lines in another order (Lua's table order) are the recorded send.
            s.send(Array("GET / HTTP/1.1\r\nUser-Agent: b\r\nHost: a\r\n\r\n".utf8), reply: reply)
            s.receive(mode: .any, count: 1, reply: reply)
            s.receive(mode: .any, count: 1, reply: reply)
            s.close(reply: reply)
            s.close(reply: reply)
        }
        #expect(departures == [])
        #expect(replies == [[.bool(true)],
                            [.bool(true), .string("127.0.0.1"), .int(40000), .string("127.0.0.1"), .int(80)],
                            [.bool(true)], [.bool(true), .bytes(Self.page)], [.none, .string("EOF")], [.bool(true)],
                            [.bool(false), .string("socket already closed")]])
    }

    @Test func otherBytesAnotherPeerOrAnotherOperationDepartSayingWhere() {
        var (_, departures) = Self.run { s, reply in
            s.connect(to: SocketAddress(ip: "127.0.0.1", port: 80)!, from: nil, udp: false, tls: false, reply: reply)
            s.send(Array("GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: b\r\n\r\n".utf8), reply: reply)
        }
        #expect(departures == ["replay: http-title against 127.0.0.1:80/tcp (recorded as http-title#3): the script sends "
                               + "43 bytes on socket 1 to 127.0.0.1:80 (operation 1) that differ from the recorded 42 at byte 5"])
        (_, departures) = Self.run { s, reply in
            s.connect(to: SocketAddress(ip: "127.0.0.1", port: 81)!, from: nil, udp: false, tls: false, reply: reply)
        }
        #expect(departures.first?.hasSuffix("the script makes a tcp connect to 127.0.0.1:81 that the recording does not have") == true)
        (_, departures) = Self.run { s, reply in
            s.connect(to: SocketAddress(ip: "127.0.0.1", port: 80)!, from: nil, udp: false, tls: false, reply: reply)
            s.receive(mode: .any, count: 1, reply: reply)
        }
        #expect(departures.first?.hasSuffix("the script receives on socket 1 to 127.0.0.1:80 (operation 1), "
                                            + "where the recording has a send of 42 bytes") == true, "\(departures)")
    }

    @Test func instancesAreClaimedByScriptRuleAndTargetInRecordedOrder() {
        var second = Self.instance()
        second.label = "http-title#9"
        let recording = Recording(instances: [Self.instance(), second])
        #expect(recording.claim(script: "http-title", rule: "portrule", target: "127.0.0.1:81/tcp") == nil)
        #expect(recording.claim(script: "http-title", rule: "portrule", target: "127.0.0.1:80/tcp")?.label == "http-title#3")
        #expect(recording.unclaimed.map(\.label) == ["http-title#9"])
    }
}
