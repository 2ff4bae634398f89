import Foundation
import Glibc
@testable import NSEEngine
import NSEScan
import Testing

// nmap 7.93's --script language (nse_main.lua, get_chosen_scripts). Behaviours
// checked against `nmap --script-help EXPR`, which selects without scanning.

private func w(_ s: String) -> ScriptExpression { .word(s) }
private func parse(_ s: String) -> ScriptExpression? { ScriptExpression.parse(s) }

// MARK: - Grammar

@Test func andAndOrBindEquallyToTheRight() {
    // nmap: "default and safe or intrusive" selects the 125 default scripts (every one
    // is safe or intrusive), not default-and-safe plus all 300-odd intrusive ones;
    // "safe or intrusive and default" selects 346 (safe, plus intrusive defaults).
    #expect(parse("a and b or c") == .and(w("a"), .or(w("b"), w("c"))))
    #expect(parse("a or b and c") == .or(w("a"), .and(w("b"), w("c"))))
    #expect(parse("a and b and c") == .and(w("a"), .and(w("b"), w("c"))))
    #expect(parse("a or b or c") == .or(w("a"), .or(w("b"), w("c"))))
    #expect(parse("(a and b) or c") == .or(.and(w("a"), w("b")), w("c")))
}

@Test func notBindsTightest() {
    #expect(parse("not a and b") == .and(.not(w("a")), w("b")))
    #expect(parse("not a or b") == .or(.not(w("a")), w("b")))
    #expect(parse("a and not b") == .and(w("a"), .not(w("b"))))
    #expect(parse("not not a") == .not(.not(w("a"))))
    #expect(parse("not (a or b)") == .not(.or(w("a"), w("b"))))
}

@Test func parenthesesAndSpaces() {
    #expect(parse("(a)") == w("a"))
    #expect(parse(" ( ( a ) ) ") == w("a"))
    #expect(parse("not(a)") == .not(w("a")))
    #expect(parse("a and(b)") == .and(w("a"), w("b")))
    #expect(parse("(a)or(b)") == .or(w("a"), w("b")))
    #expect(parse("a\tand\nb") == .and(w("a"), w("b")))
    #expect(parse("((((((((((((((((((((a))))))))))))))))))))") == w("a"))
}

@Test func keywordsAreCaseInsensitiveWordsAreNot() {
    #expect(parse("A AND B Or NoT c") == .and(w("A"), .or(w("B"), .not(w("c")))))
    #expect(parse("TRUE") == .constant(true))
    #expect(parse("All") == .constant(true))
    #expect(parse("false") == .constant(false))
    #expect(parse("DEFAULT") == w("DEFAULT"))
}

@Test func keywordsNeedABoundary() {
    #expect(parse("notdefault") == w("notdefault"))
    #expect(parse("not-x") == w("not-x"))
    #expect(parse("android") == w("android"))
    #expect(parse("allx") == w("allx"))
    // A keyword with nothing after it falls back to being a name.
    #expect(parse("not") == w("not"))
    #expect(parse("and") == w("and"))
    #expect(parse("a or not") == .or(w("a"), w("not")))
    #expect(parse("http-*") == w("http-*"))
    #expect(parse("/x/y.nse") == w("/x/y.nse"))
}

@Test func malformedExpressionsDoNotParse() {
    for bad in ["a)", "(a", "a or", "a and", "a andb", "a b", "", "  ", "()", "a and or b", "default&&safe)"] {
        #expect(parse(bad) == nil, "\(bad)")
    }
}

// MARK: - Evaluation

@Test func categoriesMatchInAnyCaseNamesExactly() {
    let cats = ["default", "discovery", "safe"]
    #expect(w("DeFault").evaluate(name: "http-title", categories: cats) == (true, false))
    #expect(w("vuln").evaluate(name: "http-title", categories: cats) == (false, false))
    #expect(w("http-title").evaluate(name: "http-title", categories: cats) == (true, true))
    #expect(w("HTTP-TITLE").evaluate(name: "http-title", categories: cats).selected == false)
    #expect(w("http-title.nse").evaluate(name: "http-title", categories: cats).selected)
    // Categories as given (not lowered by the caller) compare in any case too.
    #expect(w("safe").evaluate(name: "x", categories: ["SaFe"]) == (true, false))
    #expect(w("saf").evaluate(name: "x", categories: ["safe"]) == (false, false))
    #expect(w("safe@").evaluate(name: "x", categories: ["safe`"]) == (false, false))
}

// MARK: - script.db

@Test func scriptDatabaseLinesGiveFileNamesAndLowerCaseCategories() {
    let text = """
        Entry { filename = "acarsd-info.nse", categories = { "discovery", "safe", } }
        Entry { filename = "caf\u{e9}-\u{1F600}.nse", categories = { "Default", "VULN", } }
        not an entry
        Entry { filename = "no-categories.nse", categories = { } }

        """
    #expect(ScriptCatalog.parseDatabase(text) == [
        ScriptDatabaseEntry(filename: "acarsd-info.nse", categories: ["discovery", "safe"]),
        ScriptDatabaseEntry(filename: "caf\u{e9}-\u{1F600}.nse", categories: ["default", "vuln"]),
        ScriptDatabaseEntry(filename: "no-categories.nse", categories: []),
    ])
}

@Test func nmapsScriptDatabaseParsesEveryEntry() throws {
    let text = try String(contentsOfFile: "/usr/share/nmap/scripts/script.db", encoding: .utf8)
    let entries = ScriptCatalog.parseDatabase(text)
    #expect(entries.count == text.split(separator: "\n").filter { $0.hasPrefix("Entry {") }.count)
    #expect(entries.count > 600)
    #expect(entries.first { $0.filename == "http-title.nse" }?.categories == ["default", "discovery", "safe"])
}

@Test func globsHaveOnlyTheStar() {
    #expect(scriptNameMatches("http-*", "http-title"))
    #expect(scriptNameMatches("*title*", "vnc-title"))
    #expect(scriptNameMatches("*", "banner"))
    #expect(scriptNameMatches("http-*.nse", "http-title"))
    #expect(!scriptNameMatches("http-*", "ssh-hostkey"))
    #expect(!scriptNameMatches("http-titl?", "http-title"))  // "?" is literal in nmap
    #expect(scriptNameMatches("a?b", "a?b"))
    #expect(!scriptNameMatches("http.title", "http-title"))  // "." is literal
    #expect(!scriptNameMatches("banner.", "banner"))
    #expect(!scriptNameMatches("http", "http-title"))       // anchored
}

@Test func selectedByNameWhenANameTokenMatched() throws {
    let cats = ["default", "safe"]
    let e1 = try #require(parse("default or http-*"))
    #expect(e1.evaluate(name: "http-title", categories: cats) == (true, true))
    #expect(e1.evaluate(name: "ssh-hostkey", categories: cats) == (true, false))
    let e2 = try #require(parse("safe and not banner"))
    #expect(e2.evaluate(name: "banner", categories: cats) == (false, true))
    #expect(try #require(parse("true")).evaluate(name: "x", categories: []) == (true, false))
    #expect(try #require(parse("not all")).evaluate(name: "x", categories: []).selected == false)
}

// MARK: - Resolving against a data directory

/// A data directory with scripts/script.db and the scripts it lists.
private final class DataDir {
    let root: String
    init(_ entries: [(String, [String])], extraFiles: [String] = []) throws {
        var template = Array("/tmp/nsebox-selection-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw SpecError("mkdtemp failed") }
        root = String(cString: p)
        mkdir(root + "/scripts", 0o755)
        var db = ""
        for (name, cats) in entries {
            db += "Entry { filename = \"\(name).nse\", categories = {"
                + cats.map { " \"\($0)\"," }.joined() + " } }\n"
            write(root + "/scripts/\(name).nse", "action = function() end\n")
        }
        write(root + "/scripts/script.db", db)
        for f in extraFiles { write(root + "/" + f, "action = function() end\n") }
    }
    func write(_ path: String, _ text: String) {
        if let slash = path.lastIndex(of: "/") { mkdir(String(path[..<slash]), 0o755) }
        let f = fopen(path, "w")!
        fputs(text, f)
        fclose(f)
    }
    var catalog: ScriptCatalog { ScriptCatalog(dataDirectories: [root]) }
    deinit { _ = system("rm -rf '\(root)'") }
}

private let sample: [(String, [String])] = [
    ("banner", ["discovery", "safe"]),
    ("http-auth-finder", ["discovery", "safe"]),
    ("http-auth", ["auth", "default", "safe"]),
    ("http-title", ["default", "discovery", "safe"]),
    ("smb-flood", ["dos", "intrusive"]),
    ("ssh-brute", ["brute", "intrusive"]),
    ("ssh-hostkey", ["default", "discovery", "safe"]),
]

private func names(_ files: [ScriptFile]) -> [String] { files.map(\.name) }

@Test func scriptsComeInDatabaseOrderWhateverTheRuleOrder() throws {
    let d = try DataDir(sample)
    #expect(names(try d.catalog.resolve("ssh-hostkey,banner")) == ["banner", "ssh-hostkey"])
    #expect(names(try d.catalog.resolve("http-*")) == ["http-auth-finder", "http-auth", "http-title"])
    #expect(names(try d.catalog.resolve("all")).count == sample.count)
}

@Test func booleanSelectionOverTheDatabase() throws {
    let d = try DataDir(sample)
    #expect(names(try d.catalog.resolve("default and safe or intrusive"))
        == ["http-auth", "http-title", "ssh-hostkey"])
    #expect(names(try d.catalog.resolve("(default and safe) or intrusive"))
        == ["http-auth", "http-title", "smb-flood", "ssh-brute", "ssh-hostkey"])
    #expect(names(try d.catalog.resolve("(http-* or ssh-*) and not intrusive"))
        == ["http-auth-finder", "http-auth", "http-title", "ssh-hostkey"])
    #expect(names(try d.catalog.resolve("not (default or dos or brute)")) == ["banner", "http-auth-finder"])
    #expect(names(try d.catalog.resolve("DEFAULT AND Discovery")) == ["http-title", "ssh-hostkey"])
}

@Test func forcedAndByNameFlags() throws {
    let d = try DataDir(sample)
    let files = try d.catalog.resolve(" +banner , default,http-title")
    #expect(files.map(\.name) == ["banner", "http-auth", "http-title", "ssh-hostkey"])
    #expect(files.map(\.forced) == [true, false, false, false])
    // http-title matches "default" first, so it is selected by category.
    #expect(files.map(\.selectedByName) == [true, false, false, false])
    #expect(try d.catalog.resolve("http-title,default").map(\.selectedByName) == [false, true, false])
    // The same rule twice: the last "+" or its absence wins, as in nmap's table.
    #expect(try d.catalog.resolve("banner,+banner").map(\.forced) == [true])
}

@Test func emptyPiecesAreIgnored() throws {
    let d = try DataDir(sample)
    #expect(try d.catalog.resolve("").isEmpty)
    #expect(try d.catalog.resolve(",, ,+").isEmpty)
    #expect(names(try d.catalog.resolve("banner,,")) == ["banner"])
}

@Test func pathsFilesAndDirectories() throws {
    let d = try DataDir(sample, extraFiles: ["mine/one.nse", "mine/two.nse", "mine/notes.txt", "solo.nse"])
    let solo = try d.catalog.resolve("\(d.root)/solo.nse,banner")
    #expect(names(solo) == ["banner", "solo"])          // database matches come first
    #expect(solo[1].path == d.root + "/solo.nse")
    #expect(solo[1].selectedByName)
    #expect(names(try d.catalog.resolve("\(d.root)/solo")) == ["solo"])   // ".nse" added
    let dir = try d.catalog.resolve("+\(d.root)/mine/")
    #expect(Set(names(dir)) == ["one", "two"])
    #expect(dir.allSatisfy { $0.forced && !$0.selectedByName })
    // A name that is only a file under scripts/ (not in script.db).
    d.write(d.root + "/scripts/extra.nse", "action = function() end\n")
    #expect(names(try d.catalog.resolve("extra")) == ["extra"])
}

/// The error `resolve` raises, if any.
private func message(_ c: ScriptCatalog, _ spec: String) -> String? {
    do { _ = try c.resolve(spec) } catch { return error.message }
    return nil
}

@Test func unmatchedWordsAreNmapsError() throws {
    let d = try DataDir(sample)
    let c = d.catalog
    for word in ["nosuch", "HTTP-TITLE", "http-titl?", "banner and not banner", "not all", "false", "banner)",
                 "(banner", "banner or", "default andsafe", "notdefault"] {
        #expect(message(c, "banner," + word)
            == "'\(word)' did not match a category, filename, or directory")
    }
    // Surrounding space and "+" are not part of the word nmap names.
    #expect(message(c, " +nosuch ") == "'nosuch' did not match a category, filename, or directory")
    // Commas always split, even inside parentheses.
    #expect(message(c, "(banner,http-title)") != nil)
}

@Test func directoriesNeedATrailingSlashAndIDsMustBeUnique() throws {
    let d = try DataDir(sample, extraFiles: ["mine/banner.nse"])
    #expect(message(d.catalog, "\(d.root)/mine")
        == "directory '\(d.root)/mine' found, but will not match without '/'")
    #expect(message(d.catalog, "banner,\(d.root)/mine/") == "duplicate script ID: 'banner'")
    #expect(names(try d.catalog.resolve("\(d.root)/mine/")) == ["banner"])
}

// MARK: - Help text

@Test func helpIndentsEveryNonEmptyLineAndAddsNothing() {
    let text = ScriptHelp.format([
        ScriptHelpEntry(name: "a", categories: ["safe", "default"], description: Array("One.\n\n two\n".utf8)),
        ScriptHelpEntry(name: "b", categories: [], description: Array("no newline".utf8)),
        ScriptHelpEntry(name: "c", categories: ["x"], description: nil),
    ])
    #expect(String(decoding: text, as: UTF8.self) == """

        a
        Categories: safe default
        https://nmap.org/nsedoc/scripts/a.html
          One.

           two

        b
        Categories: 
        https://nmap.org/nsedoc/scripts/b.html
          no newline
        c
        Categories: x
        https://nmap.org/nsedoc/scripts/c.html

        """)
}

/// The name a script.db entry's name tokens match: the file name without its
/// directory (either slash) and without ".nse", whatever characters it holds.
@Test func databaseEntryBaseName() {
    func base(_ f: String) -> String { ScriptDatabaseEntry(filename: f, categories: []).baseName }
    #expect(base("acarsd-info.nse") == "acarsd-info")
    #expect(base("dir/sub/http-title.nse") == "http-title")
    #expect(base("dir\\smb-os-discovery.nse") == "smb-os-discovery")
    #expect(base("caf\u{e9}-\u{1F600}.nse") == "caf\u{e9}-\u{1F600}")
    #expect(base("no-extension") == "no-extension")
    #expect(base("upper.NSE") == "upper.NSE")
    #expect(base(".nse") == "")
    #expect(base("a/") == "")
}
