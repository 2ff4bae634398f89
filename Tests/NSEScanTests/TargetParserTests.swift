import Testing
import NSEScan

/// A resolver that knows two names and touches no network.
private func stubResolver(_ name: String) -> [String] {
    switch name {
    case "web.example": return ["192.0.2.10", "192.0.2.11"]
    case "v6.example": return ["2001:db8::5"]
    default: return []
    }
}

private func addresses(_ words: [String]) throws -> [String] {
    try TargetParser(resolver: stubResolver).parse(words).map(\.address)
}

/// The message of the error `words` raise, or nil if they parse.
private func errorMessage(_ words: [String]) -> String? {
    do {
        _ = try TargetParser(resolver: stubResolver).parse(words)
        return nil
    } catch {
        return error.message
    }
}

@Test func dottedQuadIsOneNumericTargetWithoutName() throws {
    let targets = try TargetParser(resolver: stubResolver).parse(["10.1.2.3"])
    #expect(targets == [ScanTarget(address: "10.1.2.3", family: .ipv4, targetName: nil)])
}

@Test func wordsKeepCommandLineOrder() throws {
    #expect(try addresses(["10.0.0.2", "10.0.0.1"]) == ["10.0.0.2", "10.0.0.1"])
}

@Test func lastOctetRangeExpandsAscending() throws {
    let result = try addresses(["127.0.0.1-64"])
    #expect(result.count == 64)
    #expect(result.first == "127.0.0.1")
    #expect(result.last == "127.0.0.64")
}

@Test func rangeInAMiddleOctetVariesSlowerThanLaterOctets() throws {
    #expect(try addresses(["10.0-1.0.1"]) == ["10.0.0.1", "10.1.0.1"])
    #expect(try addresses(["10.0.1-2.3-4"]) == ["10.0.1.3", "10.0.1.4", "10.0.2.3", "10.0.2.4"])
}

@Test func octetListsAreSortedAndDeduplicated() throws {
    #expect(try addresses(["192.168.1.1,3,5-7"]) ==
        ["192.168.1.1", "192.168.1.3", "192.168.1.5", "192.168.1.6", "192.168.1.7"])
    #expect(try addresses(["10.0.0.5,1,5,2-3"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"])
}

@Test func openEndedOctetRangesAndWildcard() throws {
    #expect(try addresses(["10.0.0.-5"]) == (0...5).map { "10.0.0.\($0)" })
    #expect(try addresses(["10.0.0.250-"]) == (250...255).map { "10.0.0.\($0)" })
    #expect(try addresses(["10.0.0.*"]) == (0...255).map { "10.0.0.\($0)" })
    #expect(try addresses(["10.0.*.1"]).count == 256)
}

@Test func cidrBlockIncludesNetworkAndBroadcast() throws {
    #expect(try addresses(["10.0.0.5/30"]) == ["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"])
    #expect(try addresses(["10.0.0.0/24"]).count == 256)
    #expect(try addresses(["10.9.8.7/32"]) == ["10.9.8.7"])
    #expect(try addresses(["10.0.0.0/31"]) == ["10.0.0.0", "10.0.0.1"])
}

@Test func hostNameResolvesToFirstAddressAndKeepsTheName() throws {
    let targets = try TargetParser(resolver: stubResolver).parse(["web.example"])
    #expect(targets == [ScanTarget(address: "192.0.2.10", family: .ipv4, targetName: "web.example")])
}

@Test func hostNameWithNetmaskNamesOnlyTheResolvedHost() throws {
    let targets = try TargetParser(resolver: stubResolver).parse(["web.example/30"])
    #expect(targets.map(\.address) == ["192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11"])
    #expect(targets.map(\.targetName) == [nil, nil, "web.example", nil])
}

@Test func hostNameResolvingToIPv6GivesAnIPv6Target() throws {
    let targets = try TargetParser(resolver: stubResolver).parse(["v6.example"])
    #expect(targets == [ScanTarget(address: "2001:db8::5", family: .ipv6, targetName: "v6.example")])
}

@Test func systemResolverFindsLocalhostAsLoopback() throws {
    let targets = try TargetParser().parse(["localhost"])
    #expect(targets.count == 1)
    #expect(targets.first?.family == .ipv4)
    #expect(targets.first?.address.hasPrefix("127.") == true)
    #expect(targets.first?.targetName == "localhost")
}

@Test func ipv6IsPrintedInCanonicalForm() throws {
    let targets = try TargetParser(resolver: stubResolver).parse(["::1", "2001:DB8:0:0:0:0:0:1"])
    #expect(targets == [
        ScanTarget(address: "::1", family: .ipv6),
        ScanTarget(address: "2001:db8::1", family: .ipv6),
    ])
}

@Test func ipv6ZoneIsKeptWhenTheInterfaceExists() throws {
    #expect(try addresses(["fe80::1%lo"]) == ["fe80::1%lo"])
    #expect(errorMessage(["fe80::1%nosuchif0"])?.contains("fe80::1%nosuchif0") == true)
}

@Test func ipv6CidrEnumeratesTheBlock() throws {
    #expect(try addresses(["2001:db8::7/126"]) ==
        ["2001:db8::4", "2001:db8::5", "2001:db8::6", "2001:db8::7"])
    #expect(try addresses(["::1/128"]) == ["::1"])
}

@Test func duplicatesAreRemovedWithinAWordButNotAcrossWords() throws {
    #expect(try addresses(["10.0.0.1,1"]) == ["10.0.0.1"])
    #expect(try addresses(["10.0.0.1", "10.0.0.1"]) == ["10.0.0.1", "10.0.0.1"])
}

@Test(arguments: [
    ("1.2.3.999", "Invalid target \"1.2.3.999\""),
    ("1.2.3", "Invalid target \"1.2.3\""),
    ("1.2.3.4.5", "Invalid target \"1.2.3.4.5\""),
    ("1.2.3.9-2", "Invalid target \"1.2.3.9-2\""),
    ("1.2..4", "Invalid target \"1.2..4\""),
    ("1.2.3.4,", "Invalid target \"1.2.3.4,\""),
    ("1.2.3.1-2-3", "Invalid target \"1.2.3.1-2-3\""),
    ("10.0.0.0/33", "Illegal netmask in \"10.0.0.0/33\"."),
    ("10.0.0.0/", "Illegal netmask in \"10.0.0.0/\"."),
    ("10.0.0.0/x", "Illegal netmask in \"10.0.0.0/x\"."),
    ("::1/129", "Illegal netmask in \"::1/129\"."),
    ("10.0-1.0.0/24", "Invalid target \"10.0-1.0.0/24\""),
    ("nosuchhost.invalid", "Failed to resolve \"nosuchhost.invalid\"."),
    ("bad name!", "Invalid target \"bad name!\""),
    ("1:2:3", "Invalid target \"1:2:3\""),
    ("", "Invalid target \"\""),
])
func badTargetIsRejectedNamingTheWord(word: String, expected: String) {
    let message = errorMessage(["10.0.0.1", word])
    #expect(message?.contains(expected) == true, "got \(message ?? "no error")")
}

@Test(arguments: ["10.0.0.0/7", "*.*.*.*", "10-11.*.*.*", "::/64", "2001:db8::/103"])
func wordsOverTheSizeCapAreRefused(word: String) {
    let message = errorMessage([word])
    #expect(message?.contains("\"\(word)\"") == true)
    #expect(message?.contains("16777216") == true)
}

@Test func twoToThe25AddressesAreRefusedWithTheirCount() {
    #expect(errorMessage(["0-1.*.*.*"])?.contains("33554432") == true)
}

@Test func aRangeJustUnderTheCapIsAccepted() throws {
    #expect(try addresses(["10.0-1.*.*"]).count == 2 * 256 * 256)
}
