@testable import NSEEngine
import Testing

/// The events of a document, one string each, or the failure as "line N: why".
private func events(_ text: String) -> [String] {
    var out: [String] = []
    do {
        try XMLEvents.read(Array(text.utf8)) { (event, line) throws(XMLEvents.Failure) in
            switch event {
            case .start(let name, let attributes):
                out.append("\(line) <\(name)" + attributes.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined() + ">")
            case .end(let name): out.append("\(line) </\(name)>")
            case .text(let text): if text.contains(where: { !$0.isWhitespace }) { out.append("\(line) text \(text)") }
            }
        }
    } catch {
        out.append("line \(error.line): \(error.why)")
    }
    return out
}

@Suite("XML as nmap writes it")
struct XMLEventsTests {
    @Test func aDocumentAsNmapWritesItReadsAsItsElements() {
        let text = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE nmaprun>
        <?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>
        <!-- Nmap 7.93 scan initiated as: nmap -oX - -p 80 127.0.0.1 -->
        <nmaprun scanner="nmap" args="nmap -oX - -p 80 127.0.0.1">
        <host><address addr="127.0.0.1" addrtype='ipv4'/>
        <cpe>cpe:/a:igor_sysoev:nginx</cpe></host>
        </nmaprun>
        """
        #expect(events(text) == [
            "5 <nmaprun args=nmap -oX - -p 80 127.0.0.1 scanner=nmap>",
            "6 <host>", "6 <address addr=127.0.0.1 addrtype=ipv4>", "6 </address>",
            "7 <cpe>", "7 text cpe:/a:igor_sysoev:nginx", "7 </cpe>", "7 </host>", "8 </nmaprun>",
        ])
    }

    @Test func referencesAndCDATAAreDecoded() {
        let text = #"<r a="&lt;&amp;&gt;&quot;&apos;&#65;&#x42;&#x263A;">x &amp; y<![CDATA[<raw> & ]]></r>"#
        #expect(events(text) == ["1 <r a=<&>\"'AB\u{263A}>", "1 text x & y", "1 text <raw> & ", "1 </r>"])
    }

    @Test(arguments: [
        ("<a>\n<b>\n</a>", "line 3: </a> where <b> is open"),
        ("this is not xml\n", "line 1: text outside the root element"),
        ("<a>\n</a>\n<b/>", "line 3: <b> after the root element"),
        ("<a x=1/>", "line 1: attribute x of <a> is not quoted"),
        ("<a x/>", "line 1: attribute x of <a> has no value"),
        ("<a x='1' x='2'/>", "line 1: attribute x twice in <a>"),
        ("<a x='<'/>", "line 1: '<' in attribute x of <a>"),
        ("<a>\n&nbsp;</a>", "line 2: an unknown reference &nbsp;"),
        ("<a>&amp</a>", "line 1: an unterminated '&' reference"),
        ("<a x='1'y='2'/>", "line 1: a bad attribute in <a>"),
        ("</a>", "line 1: </a> closes nothing"),
        ("<a>&#0;</a>", "line 1: an unknown reference &#0;"),
    ])
    func whatNmapNeverWritesIsAnErrorOnItsLine(text: String, error: String) {
        #expect(events(text).last == error)
    }

    @Test func aDocumentThatEndsEarlyEndsWithoutAnError() {
        // Its root is still open: the importer calls it truncated.
        #expect(events("<a>\n<b x='1'>text") == ["1 <a>", "2 <b x=1>", "2 text text"])
        #expect(events("<a><b x='1") == ["1 <a>"])
        #expect(events("<a><!-- no end") == ["1 <a>"])
    }
}
