import NSEBroker
import NSEEngine
import NSEScan
import Testing

/// Reading an audit log's records into what a replay answers from.
@Test func recordedConversationsSplitAtConnectsAndDropWhatTouchedNothing() throws {
    func r(_ event: String, _ fields: [String: String] = [:]) -> [String: String] {
        fields.merging(["instance": "x#2", "script": "x", "target": "127.0.0.1", "event": event]) { a, _ in a }
    }
    let records: [[String: String]] = [
        ["event": "scan", "arguments": ["nsebox", "--script", "x", "127.0.0.1"].joined(separator: "\u{1F}")],
        ["event": "host", "address": "127.0.0.1", "targetname": "", "latency": "0.00025", "added": "false",
         "ports": "22/tcp open syn-ack ssh\u{1F}53/udp open|filtered no-response domain"],
        r("start", ["rule": "hostrule", "script_sha256": "ab", "random_seed": "00ff"]),
        r("connect", ["socket": "1", "protocol": "tcp", "destination": "127.0.0.1:22", "result": "ERROR"]),
        r("receive", ["socket": "1", "bytes": "0", "result": "ERROR"]),          // not open: answered without I/O
        r("sendto", ["socket": "2", "destination": "127.0.0.1:53", "data": "AAE="]),
        r("receive", ["socket": "2", "data": "AQI="]),
        r("connect", ["socket": "1", "protocol": "ssl", "destination": "127.0.0.1:22", "result": "ok"]),
        r("tls", ["socket": "1", "result": "ok", "version": "TLSv1.3", "cipher": "c", "peer_certificate": "AQ=="]),
        r("close", ["socket": "1"]),
        r("resolve", ["name": "example", "family": "inet", "addresses": "127.0.0.1 127.0.0.2"]),
        r("exit", ["status": "output"]),
    ]
    let scan = try RecordedScan(records: records)
    #expect(scan.arguments == ["nsebox", "--script", "x", "127.0.0.1"])
    #expect(scan.hosts.map(\.target.address) == ["127.0.0.1"])
    #expect(scan.hosts[0].ports.map { "\($0.port)/\($0.proto.rawValue) \($0.state) \($0.service)" }
            == ["22/tcp open ssh", "53/udp open|filtered domain"])
    #expect(scan.hosts[0].latency == 0.00025)
    let instance = try #require(scan.recording.unclaimed.first)
    #expect(instance.seed == [0, 255] && instance.rule == "hostrule")
    #expect(instance.conversations.map(\.socket) == [1, 2, 1])
    #expect(instance.conversations.map(\.events.count) == [1, 2, 3])
    #expect(instance.resolves.map(\.addresses) == [["127.0.0.1", "127.0.0.2"]])
    guard case .tls(_, _, _, let der)? = instance.conversations[2].events.dropFirst().first else {
        Issue.record("no tls event after the ssl connect"); return
    }
    #expect(der == [1])
}

@Test func aLogWithoutItsScanRecordCannotBeReplayed() {
    #expect(throws: SpecError.self) { try RecordedScan(records: [["event": "start", "instance": "a#1"]]) }
}
