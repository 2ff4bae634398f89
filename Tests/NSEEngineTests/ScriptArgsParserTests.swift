import NSEEngine
import NSEScan
import NSEWire
import Testing

@Test func scriptArgsParseNamesFlagsTablesAndQuotes() throws {
    let v = try ScriptArgsParser.parse(#"http.useragent=probe,unsafe,userdb={a,b},msg="x, y",n = 3"#)
    #expect(v["http.useragent"] == .string("probe"))
    #expect(v.arrayPart == [.string("unsafe")])
    #expect(v["userdb"].arrayPart == [.string("a"), .string("b")])
    #expect(v["msg"] == .string("x, y"))
    #expect(v["n"] == .string("3"))
}

@Test func scriptArgsRejectUnbalancedInputNamingIt() {
    #expect(throws: SpecError.self) { try ScriptArgsParser.parse("a={b,c") }
    #expect(throws: SpecError.self) { try ScriptArgsParser.parse("a=b}") }
    do {
        _ = try ScriptArgsParser.parse("a=\"open")
        Issue.record("accepted an unterminated string")
    } catch {
        #expect(error.message.contains("a=\"open"))
    }
}

@Test func scriptArgsAcceptNewlinesAsSeparators() throws {
    let v = try ScriptArgsParser.parse("user=admin\npass = secret  \n  list={x,\ny}")
    #expect(v["user"] == .string("admin"))
    #expect(v["pass"] == .string("secret"))
    #expect(v["list"].arrayPart == [.string("x"), .string("y")])
}
