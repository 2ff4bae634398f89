import Foundation
import Testing
@testable import NSEBroker

// The audit log's lines as the broker writes them: each one JSON with every
// field as it was given, whatever its kind and length (a line many times
// longer than the buffer it starts in), and chained by the previous line's SHA-256.
@Suite("Audit log lines") struct AuditLineTests {
    @Test func everyFieldKindReadsBackAndTheChainHolds() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-auditline-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.jsonl").path
        let log = try AuditLog(path: path)
        let source = AuditLog.Source(instance: "http-title#7", script: "http-title", target: "127.0.0.1:80/tcp")
        let big = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        log.record("receive", from: source, [("socket", .int(3)), ("bytes", .int(Int64(big.count))), ("data", .bytes(big[1...]))])
        log.record("mixed", from: source, [("negative", .int(-9_223_372_036_854_775_807)), ("zero", .int(0)),
                                           ("largest", .int(Int64.max)), ("ratio", .double(0.1)), ("infinite", .double(.infinity)),
                                           ("yes", .bool(true)), ("no", .bool(false)), ("names", .list(["a\"b", "é", ""])),
                                           ("text", .string(String(repeating: "ü\n", count: 2_000))), ("empty", .bytes([][...]))])
        log.record("end", from: source)
        log.close()

        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 4 && lines[3].isEmpty, "three lines, each ended by a newline")
        var prev = String(repeating: "0", count: 64)
        var records: [[String: Any]] = []
        for (i, line) in lines.dropLast().enumerated() {
            let record = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(record["seq"] as? Int == i + 1)
            #expect(record["prev"] as? String == prev, "line \(i + 1) chains to the one before")
            #expect(record["instance"] as? String == "http-title#7" && record["target"] as? String == "127.0.0.1:80/tcp")
            let ts = try #require(record["ts"] as? String)
            #expect(ts.count == 27 && ts.hasSuffix("Z") && ts.hasPrefix("20"), "\(ts)")
            prev = AuditLog.sha256Hex(Array((line + "\n").utf8)[...])
            records.append(record)
        }
        #expect(records[0]["data"] as? String == Data(big[1...]).base64EncodedString())
        #expect(records[0]["bytes"] as? Int == 50_000)
        let mixed = records[1]
        #expect(mixed["negative"] as? Int64 == -9_223_372_036_854_775_807)
        #expect(mixed["zero"] as? Int == 0 && mixed["largest"] as? Int64 == Int64.max)
        #expect(mixed["ratio"] as? Double == 0.1)
        #expect(mixed["infinite"] is NSNull)
        #expect(mixed["yes"] as? Bool == true && mixed["no"] as? Bool == false)
        #expect(mixed["names"] as? [String] == ["a\"b", "é", ""])
        #expect(mixed["text"] as? String == String(repeating: "ü\n", count: 2_000))
        #expect(mixed["empty"] as? String == "")
        #expect(records[2]["event"] as? String == "end")
    }

    @Test func numbersAndGrowth() {
        var line = AuditLine(capacity: 4)
        for v: UInt64 in [0, 7, 10, 99, 100, 1_000_000, UInt64.max] { line.decimal(v); line.append(UInt8(ascii: " ")) }
        line.digits(42, width: 6)
        line.append(" and a static string longer than the first capacity")
        #expect(String(decoding: line.bytes, as: UTF8.self)
                == "0 7 10 99 100 1000000 18446744073709551615 000042 and a static string longer than the first capacity")
        line.removeAll()
        line.quote("again")
        #expect(String(decoding: line.bytes, as: UTF8.self) == "\"again\"")
    }
}
