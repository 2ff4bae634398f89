import Foundation
import Testing
@testable import NSEBroker

// The audit log's JSON strings: plain ASCII copied as it is, everything else
// escaped, and each line still parses back to the same text.
@Suite("Audit log strings") struct AuditQuoteTests {
    @Test func plainASCIIIsCopiedAndTheRestEscaped() {
        #expect(AuditLog.quote("http-title#12") == #""http-title#12""#)
        #expect(AuditLog.quote("127.0.0.1:80/tcp") == #""127.0.0.1:80/tcp""#)
        #expect(AuditLog.quote("say \"hi\"\\") == #""say \"hi\"\\""#)
        #expect(AuditLog.quote("a\nb\r\tc\u{1}") == #""a\nb\r\tc\u0001""#)
        #expect(AuditLog.quote("café \u{1F600}") == #""caf\u00e9 \ud83d\ude00""#)
        #expect(AuditLog.quote("") == #""""#)
    }

    @Test func everyQuotedStringParsesBackAsJSON() throws {
        for text in ["plain", "tab\there", "quote\" and \\", "\u{0}\u{1f}\u{7f}", "日本語", "\u{1F600}x", String(repeating: "a", count: 300)] {
            let json = "[" + AuditLog.quote(text) + "]"
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
            #expect(parsed == [text], "\(json)")
        }
    }
}

/// The audit log's hash chain and the bytecode cache's keys: SHA-256 as
/// FIPS 180-2 gives it (its examples), whatever way OpenSSL is called.
@Test func sha256IsTheStandardDigest() {
    #expect(AuditLog.sha256Hex(Array("".utf8)[...]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(AuditLog.sha256Hex(Array("abc".utf8)[...]) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(AuditLog.sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)[...])
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    #expect(AuditLog.sha256Hex([UInt8](repeating: 0x61, count: 1_000_000)[...])
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
}

/// The audit log's base64 is the standard one (Foundation's, to compare), for
/// every remainder of three, a slice that does not start at 0, and data longer
/// than one piece of libcrypto's encoder.
@Test func base64IsTheStandardEncoding() {
    var bytes: [UInt8] = []
    for n in 0..<10 {
        #expect(AuditLog.base64(bytes[...]) == Data(bytes).base64EncodedString(), "\(n) bytes")
        bytes.append(UInt8(truncatingIfNeeded: n * 37 + 200))
    }
    let large = (0..<(3 << 20) + 5).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
    let slice = large[1...]
    #expect(AuditLog.base64(slice) == Data(slice).base64EncodedString())
    var line = Array("{\"data\":\"".utf8)
    AuditLog.base64(large[..<4], into: &line)
    #expect(String(decoding: line, as: UTF8.self) == "{\"data\":\"" + Data(large[..<4]).base64EncodedString())
}
