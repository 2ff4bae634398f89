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
