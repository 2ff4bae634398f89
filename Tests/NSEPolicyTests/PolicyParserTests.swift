import Testing
import Glibc
import NSEPolicy

// MARK: - Helpers

/// sandbox-policies/default.policy of the repository, found from this file's path.
func defaultPolicyPath(_ file: String = #filePath) -> String {
    // Tests/NSEPolicyTests/<file> -> <repo>/sandbox-policies/default.policy
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/") + "/sandbox-policies/default.policy"
}

func readFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else {
        throw PolicyError(line: 0, "cannot open \(path): errno \(errno)")
    }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The error `text` raises, or nil when it parses.
func policyError(_ text: String) -> PolicyError? {
    do throws(PolicyError) {
        _ = try PolicyParser.parse(text)
        return nil
    } catch {
        return error
    }
}

/// Three header lines (format, name, default) then `body`; the first body line is line 4.
func withHeader(_ body: String, defaultAction: String = "kill") -> String {
    "format 1\nname test\ndefault \(defaultAction)\n" + body
}

// MARK: - The shipped policy

@Test func parsesTheShippedDefaultPolicy() throws {
    let policy = try PolicyParser.parse(try readFile(defaultPolicyPath()))
    #expect(policy.format == 2)
    #expect(policy.name == "default")
    #expect(policy.runCategories == ["default", "safe"])
    #expect(policy.rights.sockets == 64 && policy.rights.wallSeconds == 600 && policy.rights.raw == true)
    #expect(policy.rights.network == [.dns] && policy.rights.read == [.nmapData, .scriptArgs])
    #expect(policy.rights(script: "broadcast-ping", categories: ["broadcast", "safe"]).network == [.dns, .broadcast])
    #expect(policy.defaultAction == .kill)

    let rpc = [ArgumentCondition(index: 0, value: 3)]
    for call in ["read", "write", "sendto", "recvfrom", "sendmsg", "recvmsg", "close"] {
        #expect(policy.rules.contains(SyscallRule(.allow, call, rpc)), "\(call) only on the RPC fd")
    }
    let noExec = [ArgumentCondition(index: 2, mask: 4, value: 0)]
    #expect(policy.rules.contains(SyscallRule(.allow, "mmap", noExec)))
    #expect(policy.rules.contains(SyscallRule(.allow, "mprotect", noExec)))
    for call in ["brk", "munmap", "futex", "exit_group", "getpid", "clock_gettime"] {
        #expect(policy.rules.contains(SyscallRule(.allow, call)), "\(call)")
    }
    for call in ["openat", "open", "newfstatat", "fstat"] {
        #expect(policy.rules.contains(SyscallRule(.errno(13), call)), "\(call) fails with EACCES")
    }
    // Nothing that reaches the network or other processes.
    let named = Set(policy.rules.map(\.syscall))
    for call in ["socket", "connect", "execve", "execveat", "fork", "clone", "clone3", "kill", "ptrace", "ioctl"] {
        #expect(!named.contains(call), "\(call) must not be listed")
    }
    // Every memory rule that could map executable pages carries the PROT_EXEC condition.
    for rule in policy.rules where ["mmap", "mprotect"].contains(rule.syscall) {
        #expect(rule.conditions == noExec)
    }

    #expect(policy.limits == [
        ResourceLimit(.core, 0), ResourceLimit(.fsize, 0), ResourceLimit(.nproc, 0),
        ResourceLimit(.nofile, 4), ResourceLimit(.cpu, 300), ResourceLimit(.as, 2 << 30),
    ])
}

@Test func parsesAMinimalPolicy() throws {
    let policy = try PolicyParser.parse("format 1\nname tiny\ndefault errno EPERM\n")
    #expect(policy == Policy(format: 1, name: "tiny", defaultAction: .errno(1), rules: [], limits: []))
}

@Test func commentsBlankLinesAndTabsAreIgnored() throws {
    let text = "# header\n\nformat 1   # trailing comment\n\tname  x\n\n  \t \ndefault kill\nallow\tread arg0 == 3 # fd\n"
    let policy = try PolicyParser.parse(text)
    #expect(policy.name == "x")
    #expect(policy.rules == [SyscallRule(.allow, "read", [ArgumentCondition(index: 0, value: 3)])])
}

/// Swift's String makes "\r\n" one Character, so `split(separator: "\n")` does not break
/// a CRLF line: a CRLF file parses as one long line, and a comment line ending in CRLF
/// swallows the statement after it. Under `default allow` that silently drops a kill rule.
@Test func carriageReturnLineFeedEndsALine() throws {
    do {
        let policy = try PolicyParser.parse("format 1\r\nname x\r\ndefault kill\r\nallow read arg0 == 3\r\n")
        #expect(policy.rules == [SyscallRule(.allow, "read", [ArgumentCondition(index: 0, value: 3)])])
    }
}

@Test func commentEndingInCarriageReturnLineFeedDoesNotSwallowTheNextRule() throws {
    do {
        let policy = try PolicyParser.parse("format 1\nname x\ndefault allow\n# no sockets\r\nkill socket\n")
        #expect(policy.rules == [SyscallRule(.kill, "socket")])
    }
}

@Test func lineNumbersCountCarriageReturnLineEndingsOnce() throws {
    do {
        let error = try #require(policyError("format 1\r\nname x\r\ndefault kill\r\nfrobnicate\r\n"))
        #expect(error.line == 4)
    }
}

@Test func statementOrderIsKept() throws {
    let policy = try PolicyParser.parse(withHeader("allow b\nkill a\nerrno ENOSYS c\n", defaultAction: "errno EPERM"))
    #expect(policy.rules == [SyscallRule(.allow, "b"), SyscallRule(.kill, "a"), SyscallRule(.errno(38), "c")])
    #expect(policy.defaultAction == .errno(1))
}

@Test(arguments: [("EPERM", EPERM), ("ENOENT", ENOENT), ("EACCES", EACCES), ("EINVAL", EINVAL),
                  ("ENOSYS", ENOSYS), ("ENOTSUP", ENOTSUP)])
func errnoNamesMapToLinuxNumbers(_ name: String, _ number: Int32) throws {
    let policy = try PolicyParser.parse(withHeader("errno \(name) openat\n"))
    #expect(policy.rules == [SyscallRule(.errno(number), "openat")])
}

// MARK: - Conditions

@Test func equalityConditionWithNamedConstantParses() throws {
    let policy = try PolicyParser.parse(withHeader("allow write arg0 == RPC_FD\n"))
    #expect(policy.rules == [SyscallRule(.allow, "write", [ArgumentCondition(index: 0, mask: nil, value: 3)])])
}

@Test func maskedConditionParses() throws {
    let policy = try PolicyParser.parse(withHeader("allow mmap arg2 & PROT_EXEC == 0\n"))
    #expect(policy.rules == [SyscallRule(.allow, "mmap", [ArgumentCondition(index: 2, mask: 4, value: 0)])])
}

@Test func severalConditionsAndNumberFormsParse() throws {
    let policy = try PolicyParser.parse(withHeader(
        "allow futex arg1 & FUTEX_PRIVATE_FLAG == 0x80 arg5 == 18446744073709551615 arg3 == 0xffffffffffffffff\n"))
    #expect(policy.rules.first?.conditions == [
        ArgumentCondition(index: 1, mask: 128, value: 0x80),
        ArgumentCondition(index: 5, value: UInt64.max),
        ArgumentCondition(index: 3, value: UInt64.max),
    ])
}

// MARK: - Sizes

@Test(arguments: [
    ("0", UInt64(0)), ("4", 4), ("300", 300), ("0x10", 16),
    ("1K", 1024), ("64K", 64 << 10), ("3M", 3 << 20), ("2G", 2 << 30), ("16G", 16 << 30),
    ("unlimited", UInt64.max),
])
func rlimitSizesUnderstandUnitsAndUnlimited(_ word: String, _ expected: UInt64) throws {
    let policy = try PolicyParser.parse(withHeader("rlimit as \(word)\n"))
    #expect(policy.limits == [ResourceLimit(.as, expected)])
}

@Test(arguments: ResourceLimit.Resource.allCases)
func everyResourceNameIsAccepted(_ resource: ResourceLimit.Resource) throws {
    let policy = try PolicyParser.parse(withHeader("rlimit \(resource.rawValue) 1\n"))
    #expect(policy.limits == [ResourceLimit(resource, 1)])
}

// MARK: - Errors name the line

struct BadLine: Sendable, CustomTestStringConvertible {
    var statement: String
    var messageContains: String
    var testDescription: String { "'\(statement)'" }
}

let badLines: [BadLine] = [
    // Unknown statements.
    BadLine(statement: "permit read", messageContains: "unknown statement 'permit'"),
    BadLine(statement: "Allow read", messageContains: "unknown statement"),
    BadLine(statement: "syscall read", messageContains: "unknown statement"),
    // Bad system call names.
    BadLine(statement: "allow re-ad", messageContains: "bad system call name 're-ad'"),
    BadLine(statement: "allow read;", messageContains: "bad system call name"),
    BadLine(statement: "kill ../etc", messageContains: "bad system call name"),
    BadLine(statement: "allow", messageContains: "needs a system call name"),
    BadLine(statement: "errno EACCES", messageContains: "needs a system call name"),
    // Bad conditions.
    BadLine(statement: "allow read arg6 == 3", messageContains: "expected arg0...arg5"),
    BadLine(statement: "allow read argX == 3", messageContains: "expected arg0...arg5"),
    BadLine(statement: "allow read 3 == arg0", messageContains: "expected arg0...arg5"),
    BadLine(statement: "allow read arg0 = 3", messageContains: "incomplete condition"),
    BadLine(statement: "allow read arg0 ==", messageContains: "incomplete condition"),
    BadLine(statement: "allow read arg0", messageContains: "incomplete condition"),
    BadLine(statement: "allow mmap arg2 & PROT_EXEC", messageContains: "incomplete condition"),
    BadLine(statement: "allow mmap arg2 & PROT_EXEC = 0", messageContains: "incomplete condition"),
    BadLine(statement: "allow read arg0 == 3 arg1", messageContains: "incomplete condition"),
    BadLine(statement: "allow read arg0 == RPC_SOCKET", messageContains: "bad number 'RPC_SOCKET'"),
    BadLine(statement: "allow read arg0 == -1", messageContains: "bad number"),
    BadLine(statement: "allow read arg0 == 0xZZ", messageContains: "bad number"),
    BadLine(statement: "allow read arg0 == 18446744073709551616", messageContains: "bad number"),
    BadLine(statement: "allow mmap arg2 & EXEC == 0", messageContains: "bad number 'EXEC'"),
    // Unknown errno names.
    BadLine(statement: "errno EFOO openat", messageContains: "errno needs a known errno name"),
    BadLine(statement: "errno eacces openat", messageContains: "errno needs a known errno name"),
    BadLine(statement: "errno 13 openat", messageContains: "errno needs a known errno name"),
    BadLine(statement: "default errno EFOO", messageContains: "errno needs a known errno name"),
    BadLine(statement: "default errno", messageContains: "errno needs a known errno name"),
    BadLine(statement: "default deny", messageContains: "expected allow, kill or errno"),
    BadLine(statement: "default", messageContains: "expected allow, kill or errno"),
    // Resource limits.
    BadLine(statement: "rlimit data 1M", messageContains: "unknown resource 'data'"),
    BadLine(statement: "rlimit NOFILE 4", messageContains: "unknown resource"),
    BadLine(statement: "rlimit nofile", messageContains: "rlimit takes a resource and a value"),
    BadLine(statement: "rlimit nofile 4 5", messageContains: "rlimit takes a resource and a value"),
    BadLine(statement: "rlimit nofile lots", messageContains: "bad number"),
    BadLine(statement: "rlimit as 2T", messageContains: "bad number"),
    BadLine(statement: "rlimit as 2k", messageContains: "bad number"),
    BadLine(statement: "rlimit as -1", messageContains: "bad number"),
    BadLine(statement: "rlimit as G", messageContains: "bad number"),
    // Format and name.
    BadLine(statement: "format 3", messageContains: "unsupported policy format 3"),
    BadLine(statement: "format 0", messageContains: "unsupported policy format 0"),
    BadLine(statement: "format one", messageContains: "format takes one number"),
    BadLine(statement: "format", messageContains: "format takes one number"),
    BadLine(statement: "format 1 2", messageContains: "format takes one number"),
    BadLine(statement: "name two words", messageContains: "name takes one word"),
    BadLine(statement: "name", messageContains: "name takes one word"),
]

@Test(arguments: badLines)
func badStatementIsReportedWithItsLineNumber(_ bad: BadLine) throws {
    // The bad statement sits on line 6, after a comment and a blank line, with a good rule after it.
    let text = withHeader("# a comment\n\n\(bad.statement)\nallow getpid\n")
    let error = try #require(policyError(text))
    #expect(error.line == 6)
    #expect(error.message.contains(bad.messageContains), "message: \(error.message)")
    #expect(error.description.hasPrefix("line 6: "))
}

@Test func badStatementOnTheFirstLineIsLineOne() throws {
    let error = try #require(policyError("format 9\nname x\ndefault kill\n"))
    #expect(error.line == 1)
    #expect(error.message.contains("unsupported policy format 9"))
}

@Test func firstBadLineWins() throws {
    let error = try #require(policyError(withHeader("allow ok\nbogus one\nbogus two\n")))
    #expect(error.line == 5)
    #expect(error.message.contains("'bogus'"))
}

@Test(arguments: [
    ("name x\ndefault kill\n", "format"),
    ("format 1\ndefault kill\n", "name"),
    ("format 1\nname x\n", "default"),
    ("", "format"),
    ("# only a comment\n", "format"),
])
func missingRequiredStatementIsAnErrorWithoutALine(_ text: String, _ missing: String) throws {
    let error = try #require(policyError(text))
    #expect(error.line == 0)
    #expect(error.message.contains("missing '\(missing)"), "message: \(error.message)")
    #expect(!error.description.hasPrefix("line "))
}

@Test func shippedPolicyWithOneLineBrokenNamesThatLine() throws {
    let original = try readFile(defaultPolicyPath())
    var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let index = try #require(lines.firstIndex(of: "allow munmap"))
    lines[index] = "allow munmap arg9 == 0"
    let error = try #require(policyError(lines.joined(separator: "\n")))
    #expect(error.line == index + 1)
}

// MARK: - Regression test for a bug found and fixed

/// A size whose unit multiplication overflows UInt64 should be an error naming the
/// line; it once trapped and took the whole process (broker included) down.
@Test func rlimitSizeThatOverflowsIsAnErrorNotACrash() async {
    do {
        await #expect(processExitsWith: .exitCode(42)) {
            do throws(PolicyError) {
                _ = try PolicyParser.parse("format 1\nname x\ndefault kill\nrlimit as 17179869184G\n")
                exit(1)
            } catch {
                exit(error.line == 4 ? 42 : 2)
            }
        }
    }
}

// MARK: - Format 2: what the broker enforces

@Test func formatTwoReadsRightsAndOverrides() throws {
    let policy = try PolicyParser.parse("""
        format 2
        name rights
        default kill
        scripts default safe
        limit wall 90s
        limit sockets 8
        limit sent 1K
        limit received 2M
        limit output 512
        limit registry 4K
        network targets+dns
        raw no
        read nmap-data /srv/lists
        when category brute limit sockets 100
        when script http-slowloris limit wall 2h
        when category brute read script-args
        """)
    #expect(policy.runCategories == ["default", "safe"])
    #expect(policy.runs(categories: ["discovery", "safe"]))
    #expect(!policy.runs(categories: ["brute", "intrusive"]))
    let base = policy.rights(script: "http-title", categories: ["default", "safe"])
    #expect(base.wallSeconds == 90 && base.sockets == 8 && base.sentBytes == 1024 && base.receivedBytes == 2 << 20)
    #expect(base.outputBytes == 512 && base.registryBytes == 4096 && base.network == [.dns])
    #expect(base.read == [.nmapData, .path("/srv/lists")])
    let brute = policy.rights(script: "ssh-brute", categories: ["brute", "intrusive"])
    #expect(brute.sockets == 100 && brute.read == [.scriptArgs] && brute.wallSeconds == 90)
    #expect(policy.rights(script: "http-slowloris", categories: ["dos"]).wallSeconds == 7200)
    #expect(try PolicyParser.parse("format 2\nname all\ndefault kill\nscripts all\n").runs(categories: ["dos"]))
}

@Test func formatOnePoliciesKeepTheBrokersDefaults() throws {
    let policy = try PolicyParser.parse("format 1\nname old\ndefault kill\n")
    #expect(policy.runCategories == nil && policy.rights == ScriptRights() && policy.overrides.isEmpty)
    #expect(policyError("format 1\nname old\ndefault kill\nlimit sockets 2\n")?.description
            == "line 4: 'limit' needs 'format 2' before it")
}

@Test func badRightsStatementsNameTheirLine() {
    func error(_ line: String) -> String? { policyError("format 2\nname x\ndefault kill\n" + line + "\n")?.description }
    #expect(error("limit sockets lots") == "line 4: bad number 'lots'")
    #expect(error("limit bandwidth 5") == "line 4: unknown limit 'bandwidth' (known: wall, sockets, sent, received, output, registry, threads)")
    #expect(error("limit wall -3") == "line 4: bad time '-3' (a positive number of seconds, or with s, m or h)")
    #expect(error("network anywhere") == "line 4: network starts with 'targets' (the hosts under scan)")
    #expect(error("network targets+internet") == "line 4: unknown network reach 'internet' (known: dns, broadcast)")
    #expect(error("raw maybe") == "line 4: raw takes yes or no")
    #expect(error("read ../etc") == "line 4: read takes nmap-data, script-args, none or absolute paths without '..', found '../etc'")
    #expect(error("read /srv/../etc") == "line 4: read takes nmap-data, script-args, none or absolute paths without '..', found '/srv/../etc'")
    #expect(error("when category brute") == "line 4: when takes 'category NAME' or 'script NAME', then a limit, network, raw or read statement")
    #expect(error("when category brute scripts all") == "line 4: expected limit, network, raw or read")
    #expect(error("when script x limit sockets many") == "line 4: bad number 'many'")
    #expect(error("scripts") == "line 4: scripts takes 'all' or category names")
    #expect(policyError("format 3\nname x\ndefault kill\n")?.description == "line 1: unsupported policy format 3 (this nsebox reads formats 1 and 2)")
}

/// `nsebox policy check` prints this; it must state what the broker will enforce.
@Test func summaryStatesEveryRight() throws {
    let policy = try PolicyParser.parse("format 2\nname s\ndefault kill\nallow read arg0 == RPC_FD\nlimit sent 1M\nnetwork targets+broadcast\nwhen category brute limit sockets 9\n")
    let text = policy.summary
    #expect(text.contains("policy s (format 2)"))
    #expect(text.contains("  allow read if arg0 == 3"))
    #expect(text.contains("  bytes sent: 1M"))
    #expect(text.contains("  network: the hosts under scan, broadcast"))
    #expect(text.contains("  when category brute: limit sockets 9"))
    #expect(text.contains("scripts that run: all"))
}

/// The child waits for replies in poll(2) only where every call to it is allowed.
@Test func alwaysAllowsMeansEveryCallToIt() throws {
    func policy(_ lines: String) throws -> Policy { try PolicyParser.parse("format 2\nname p\n" + lines + "\n") }
    #expect(try policy("default kill\nallow poll").alwaysAllows("poll"))
    #expect(try !policy("default kill").alwaysAllows("poll"))
    #expect(try !policy("default kill\nallow poll arg1 == 1").alwaysAllows("poll"))
    #expect(try !policy("default allow\nkill poll").alwaysAllows("poll"))
    #expect(try policy("default allow").alwaysAllows("poll"))
    #expect(try PolicyParser.parse(readFile(defaultPolicyPath())).alwaysAllows("poll"))
    // On one descriptor: the spin's non-blocking reads of fd 3.
    #expect(try PolicyParser.parse(readFile(defaultPolicyPath())).allows("recvfrom", onDescriptor: 3))
    #expect(try !policy("default kill\nallow recvfrom arg0 == 4").allows("recvfrom", onDescriptor: 3))
    #expect(try !policy("default kill\nallow recvfrom arg0 == 3 arg1 == 0").allows("recvfrom", onDescriptor: 3))
    #expect(try policy("default kill\nallow recvfrom").allows("recvfrom", onDescriptor: 3))
}
