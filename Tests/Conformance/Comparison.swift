import Foundation

// Script results of nmap's normal output, and how nsebox's are compared with two
// runs of nmap.
//
// A result is one script's output block under one port ("80/tcp"), or under the
// host ("host"), before ("pre-scan") or after ("post-scan") the scan. nmap is run
// twice: what it gives the same both times must come out of nsebox verbatim; what
// differs between its two runs (times, dates, counters, random salts, the order of
// a set) is compared by structure only (see `compareResult`). When nsebox differs
// from a block nmap gave twice, up to 40 more nmap runs decide (`arbitrate`):
// nmap's own order of a Lua table walked with `pairs` changes from run to run.

/// One report's script results and port lines.
struct ScriptReport {
    /// "80/tcp" -> "80/tcp open http" (whitespace collapsed).
    var ports: [String: String] = [:]
    /// "80/tcp http-title" -> the block's lines ("|_http-title: …").
    var results: [String: [String]] = [:]

    init(_ text: String) {
        var place = ""
        var current: [String] = []
        func finish() {
            guard let first = current.first else { return }
            results["\(place) \(scriptID(of: first))"] = current
            current = []
        }
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("|") {
                current.append(line)
                if line.hasPrefix("|_") { finish() }
                continue
            }
            finish()
            if isPortLine(line) {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                place = String(fields[0])
                ports[place] = fields.joined(separator: " ")
            } else if line == "Host script results:" {
                place = "host"
            } else if line == "Pre-scan script results:" {
                place = "pre-scan"
            } else if line == "Post-scan script results:" {
                place = "post-scan"
            } else if !line.isEmpty && !line.hasPrefix("PORT ") {
                place = ""
            }
        }
        finish()
    }
}

/// "| ssl-cert: Subject: …" -> "ssl-cert"; "|_banner: …" -> "banner".
func scriptID(of firstLine: String) -> String {
    let body = firstLine.dropFirst(2)  // "| " or "|_"
    return String(body.prefix { $0 != ":" })
}

/// What a line is, regardless of the values in it: its "| " / "|_  " prefix and
/// the name before its first ": " with digits replaced by "#", or just the prefix
/// when it has no name. "|   Uptime: 3 seconds" -> "|   Uptime".
/// The "|_" that marks a block's last line counts as "| " (a line that moved).
func lineStructure(_ line: String) -> String {
    let prefix = String(line.prefix { $0 == "|" || $0 == "_" || $0 == " " }.map { $0 == "_" ? " " : $0 })
    let rest = line.dropFirst(prefix.count)
    guard let colon = rest.range(of: ": ") ?? (rest.hasSuffix(":") ? rest.range(of: ":", options: .backwards) : nil)
    else { return prefix + "…" }
    return prefix + String(rest[..<colon.lowerBound].map { $0.isNumber ? "#" : $0 })
}

enum ResultVerdict: Equatable {
    /// nsebox gave the same (verbatim where nmap was stable, by structure where not).
    case reproduced
    /// nsebox gave nothing for it.
    case missing
    /// nsebox gave something else; the reason says what.
    case different(String)
}

/// Compares nsebox's block `ours` with nmap's two blocks `first` and `second`.
/// - both nmap blocks equal: `ours` must be identical;
/// - the same lines in another order: `ours` must have those lines, in any order;
/// - as many lines: line by line, lines equal in both nmap runs must be identical,
///   the others must have the same structure (`lineStructure`) as one of nmap's;
/// - a different number of lines: `ours` must have a line count between nmap's,
///   and only line structures that nmap's blocks have, but for as many lines as
///   one nmap block has of structures the other lacks.
func compareResult(first: [String], second: [String], ours: [String]?) -> ResultVerdict {
    guard let ours else { return .missing }
    if first == second {
        if ours == first { return .reproduced }
        let index = first.indices.first { $0 >= ours.count || first[$0] != ours[$0] } ?? first.count
        return .different("differs from line \(index + 1) on (nmap gave the same on both runs)")
    }
    // The same lines in another order ("|_" marks whichever comes last).
    func unordered(_ block: [String]) -> [String] {
        block.map { $0.hasPrefix("|_") ? "| " + $0.dropFirst(2) : $0 }.sorted()
    }
    if unordered(first) == unordered(second) {
        return unordered(ours) == unordered(first)
            ? .reproduced : .different("not the same lines (nmap's two runs differ only in their order)")
    }
    if first.count == second.count {
        guard ours.count == first.count else {
            return .different("\(ours.count) lines, nmap gave \(first.count) on both runs")
        }
        for index in first.indices {
            if first[index] == second[index] {
                if ours[index] != first[index] {
                    return .different("line \(index + 1) differs (nmap gave the same line on both runs)")
                }
            } else {
                let structure = lineStructure(ours[index])
                if structure != lineStructure(first[index]) && structure != lineStructure(second[index]) {
                    return .different("line \(index + 1) differs in structure: \(structure.debugDescription)")
                }
            }
        }
        return .reproduced
    }
    let range = min(first.count, second.count)...max(first.count, second.count)
    guard range.contains(ours.count) else {
        return .different("\(ours.count) lines, nmap gave \(first.count) and \(second.count)")
    }
    // Lines of a shape only one nmap run has: nmap's own output is that unsteady
    // (mysql-variables misparses rows whose boundaries move with random values),
    // so nsebox may have as many lines of a shape neither run has.
    let shapes1 = Set(first.map(lineStructure)), shapes2 = Set(second.map(lineStructure))
    let unsteady = max(first.filter { !shapes2.contains(lineStructure($0)) }.count,
                       second.filter { !shapes1.contains(lineStructure($0)) }.count)
    let strangers = ours.filter { !shapes1.contains(lineStructure($0)) && !shapes2.contains(lineStructure($0)) }
    if strangers.count > unsteady {
        return .different("\(strangers.count) lines nmap's blocks have nothing like (nmap's two runs differ in "
            + "\(unsteady)), first: \(strangers[0].debugDescription)")
    }
    return .reproduced
}

/// The comparison of one scan group: nmap twice, nsebox once, same arguments.
struct GroupComparison {
    var name: String
    /// Results nmap gave on both runs ("80/tcp http-title"), sorted.
    var stable: [String] = []
    var reproduced: [String] = []
    /// Result -> why nsebox did not reproduce it, with the three blocks.
    var misses: [(key: String, detail: String)] = []
    /// Results nmap gave on one run only (not counted).
    var flaky: [String] = []
    /// Results only nsebox gave.
    var unexpected: [(key: String, detail: String)] = []
    /// Port lines that differ although nmap gave the same on both runs.
    var portDifferences: [String] = []
    /// Misses where nsebox gave another block: more nmap runs may show nmap
    /// giving nsebox's block too, or varying so that nsebox's fits (`arbitrate`).
    var disputed: [String] = []
    /// Disputes settled by further nmap runs, said in words.
    var settled: [String] = []
    private let nmapRuns: [ScriptReport], oursReport: ScriptReport

    init(name: String, first: String, second: String, ours: String) {
        self.name = name
        let a = ScriptReport(first), b = ScriptReport(second), o = ScriptReport(ours)
        nmapRuns = [a, b]; oursReport = o
        for (place, line) in a.ports.sorted(by: { $0.key < $1.key }) where b.ports[place] == line {
            if o.ports[place] != line {
                portDifferences.append("\(name): nmap: \(line.debugDescription), nsebox: \((o.ports[place] ?? "(none)").debugDescription)")
            }
        }
        for key in Set(a.results.keys).union(b.results.keys).sorted() {
            // A result nmap gave on one run only, or as an error on one run and
            // output on the other, is not one nmap reliably gives: not counted.
            guard let blockA = a.results[key], let blockB = b.results[key],
                  Self.isError(blockA) == Self.isError(blockB) else {
                flaky.append(key)
                continue
            }
            stable.append(key)
            switch compareResult(first: blockA, second: blockB, ours: o.results[key]) {
            case .reproduced:
                reproduced.append(key)
            case .missing where Self.mayRoundToNothing.contains(String(key.split(separator: " ").last ?? "")):
                reproduced.append(key)
                settled.append("\(key): no result, as nmap gives when the value it measures rounds to nothing")
            case .missing:
                misses.append((key, "nsebox gave no result\n" + Self.show(blockA, blockB, nil)))
            case .different(let reason):
                misses.append((key, reason + "\n" + Self.show(blockA, blockB, o.results[key])))
                disputed.append(key)
            }
        }
        for key in Set(o.results.keys).subtracting(a.results.keys).subtracting(b.results.keys).sorted() {
            // The other way round: nmap's runs measured nothing, nsebox's query of
            // the same ntpd found its clock a few seconds off.
            if Self.mayRoundToNothing.contains(String(key.split(separator: " ").last ?? "")) {
                settled.append("\(key): nsebox measured \((o.results[key] ?? []).joined(separator: " ")), nmap's runs nothing (a measurement nmap gives on some runs only)")
                continue
            }
            unexpected.append((key, (o.results[key] ?? []).map { "    nsebox: \($0)" }.joined(separator: "\n")))
        }
    }

    /// Weighs one more nmap run (the `number`th) in the disputes. nmap's output is
    /// not always one value: a set it prints through `pairs` comes out in the order of
    /// that run's string-hash seed, which Lua seeds afresh in every process, and some
    /// scripts' output wanders further (mysql-variables misparses rows whose
    /// boundaries move with random values). A disputed result is reproduced when
    /// this run's block is nsebox's exactly, or when nsebox's fits this block and
    /// one of the first two runs' as `compareResult` says.
    mutating func arbitrate(nmapRun text: String, number: Int) {
        let run = ScriptReport(text)
        for key in disputed {
            guard let block = run.results[key] else { continue }
            let ours = oursReport.results[key]
            let earlier = nmapRuns.compactMap { $0.results[key] }.filter { $0 != block && Self.isError($0) == Self.isError(block) }
            guard block == ours || earlier.contains(where: { compareResult(first: $0, second: block, ours: ours) == .reproduced })
            else { continue }
            disputed.removeAll { $0 == key }
            misses.removeAll { $0.key == key }
            reproduced.append(key)
            settled.append("\(key): nmap run \(number) gave \(block == ours ? "nsebox's block" : "another block, and nsebox's fits both")")
        }
    }

    /// Scripts that print a measurement, and nothing when it rounds to zero.
    /// clock-skew against the suite's ntpd (no time source, so its clock is off
    /// by a different 0 to 15 s at every query) prints "1s" on one nmap run and
    /// nothing on another: its absence is a result nmap gives too, and so is a
    /// measurement where nmap's runs happened to give none.
    static let mayRoundToNothing: Set<String> = ["clock-skew"]

    /// nmap's one-line block for a script that raised an error.
    static func isError(_ block: [String]) -> Bool {
        block.count == 1 && block[0].hasSuffix(": ERROR: Script execution failed (use -d to debug)")
    }

    private static func show(_ a: [String], _ b: [String], _ ours: [String]?) -> String {
        var text = a.map { "    nmap:   \($0)" }.joined(separator: "\n")
        if a != b { text += "\n" + b.map { "    nmap 2: \($0)" }.joined(separator: "\n") }
        if let ours { text += "\n" + ours.map { "    nsebox: \($0)" }.joined(separator: "\n") }
        return text
    }
}
