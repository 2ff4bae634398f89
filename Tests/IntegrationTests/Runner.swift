import Foundation
#if canImport(Glibc)
import Glibc
#endif

// Running nmap and nsebox, and cutting their normal-output reports down to the
// part that must match.

// MARK: - Running programs

/// What a finished program printed and how it ended.
struct RunResult: Sendable, CustomStringConvertible {
    var stdout: String
    var stderr: String
    /// The exit status, or 128 + signal number when a signal ended it.
    var exitCode: Int32

    var description: String {
        "exit code \(exitCode)\n--- stdout ---\n\(stdout)\n--- stderr ---\n\(stderr)\n--- end ---"
    }
}

enum RunError: Error, CustomStringConvertible {
    case timedOut(command: [String], seconds: TimeInterval, stdout: String, stderr: String)
    case missingExecutable(name: String, searched: [String], hint: String)
    case cannotRun(command: [String], reason: String)

    var description: String {
        switch self {
        case let .timedOut(command, seconds, stdout, stderr):
            return "timed out after \(seconds) s, killed: \(command.joined(separator: " "))\n"
                + "--- stdout so far ---\n\(stdout)\n--- stderr so far ---\n\(stderr)\n--- end ---"
        case let .missingExecutable(name, searched, hint):
            return "\(name) executable not found; looked for: \(searched.joined(separator: ", ")). \(hint)"
        case let .cannotRun(command, reason):
            return "cannot run \(command.joined(separator: " ")): \(reason)"
        }
    }
}

/// Runs `executable` with `arguments`, no stdin, and returns its output once it
/// exits. After `timeout` seconds its process group is sent SIGTERM, then
/// SIGKILL, it is waited for, and `RunError.timedOut` is thrown. Whatever it
/// forked into its process group and left running is killed when it exits.
/// `environment` nil inherits ours. Output goes through temporary files, so a
/// chatty program cannot block on a full pipe.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
    timeout: TimeInterval = 120
) throws -> RunResult {
    let command = [executable] + arguments
    let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("nsebox-run-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outPath = scratch.appendingPathComponent("stdout").path
    let errPath = scratch.appendingPathComponent("stderr").path
    let process: ChildProcess
    do {
        process = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment,
            stdoutPath: outPath, stderrPath: errPath)
    } catch {
        throw RunError.cannotRun(command: command, reason: "\(error)")
    }
    let timedOut = !process.wait(timeout: timeout)
    // SIGTERM, then SIGKILL, to its process group if it timed out; in any
    // case nothing it started outlives it.
    process.terminate(grace: 2)

    let stdout = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data(), as: UTF8.self)
    let stderr = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self)
    if timedOut {
        throw RunError.timedOut(command: command, seconds: timeout, stdout: stdout, stderr: stderr)
    }
    return RunResult(stdout: stdout, stderr: stderr, exitCode: process.exitCode ?? -1)
}

/// The installed nmap 7.93.
let nmapExecutable = "/usr/bin/nmap"

/// Runs /usr/bin/nmap with `args`. Callers keep every target on 127.0.0.1.
func runNmap(_ args: [String], timeout: TimeInterval = 120) throws -> RunResult {
    guard FileManager.default.isExecutableFile(atPath: nmapExecutable) else {
        throw RunError.missingExecutable(
            name: "nmap", searched: [nmapExecutable], hint: "Install it with `apt-get install nmap` (.ci/run does).")
    }
    return try runProcess(nmapExecutable, args, timeout: timeout)
}

/// Runs the nsebox executable SwiftPM built (see `nseboxExecutableURL()`)
/// with `args`; `environment` is added to (and overrides) ours.
/// A new directory under the system's temporary directory, "nsebox-PREFIX-XXXXXX";
/// the caller removes it (`defer { try? FileManager.default.removeItem(at: dir) }`).
func scratchDirectory(_ prefix: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nsebox-\(prefix)-\(UUID().uuidString.prefix(6))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

func runNsebox(
    _ args: [String], environment: [String: String] = [:], timeout: TimeInterval = 120
) throws -> RunResult {
    let executable = try nseboxExecutableURL()
    let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    return try runProcess(executable.path, args, environment: merged, timeout: timeout)
}

/// Where SwiftPM put the nsebox executable: beside the running test binary
/// (.build/debug or .build/<triple>/debug; on macOS beside the .xctest bundle),
/// or NSEBOX_EXECUTABLE if that is set. The IntegrationTests target depends on
/// the nsebox product, so `swift test` builds it first.
func nseboxExecutableURL() throws -> URL {
    let fileManager = FileManager.default
    if let given = ProcessInfo.processInfo.environment["NSEBOX_EXECUTABLE"], !given.isEmpty {
        guard fileManager.isExecutableFile(atPath: given) else {
            throw RunError.missingExecutable(
                name: "nsebox", searched: [given], hint: "NSEBOX_EXECUTABLE names no executable file.")
        }
        return URL(fileURLWithPath: given)
    }
    var directories: [URL] = []
    func addDirectories(of executable: URL) {
        let resolved = executable.standardizedFileURL.resolvingSymlinksInPath()
        var directory = resolved.deletingLastPathComponent()
        directories.append(directory)
        // Inside a bundle (Foo.xctest/Contents/MacOS/Foo): also the bundle's directory.
        while directory.path != "/" {
            if directory.pathExtension == "xctest" {
                directories.append(directory.deletingLastPathComponent())
                break
            }
            directory = directory.deletingLastPathComponent()
        }
    }
    if let main = Bundle.main.executableURL { addDirectories(of: main) }
    if let first = CommandLine.arguments.first, !first.isEmpty {
        let cwd = URL(fileURLWithPath: fileManager.currentDirectoryPath, isDirectory: true)
        addDirectories(of: URL(fileURLWithPath: first, relativeTo: cwd))
    }
    var searched: [String] = []
    for directory in directories {
        let candidate = directory.appendingPathComponent("nsebox")
        if searched.contains(candidate.path) { continue }
        searched.append(candidate.path)
        var isDirectory: ObjCBool = false
        if fileManager.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
           fileManager.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
    }
    let message = RunError.missingExecutable(
        name: "nsebox", searched: searched,
        hint: "Build it with `swift build` (or run `swift test`, which builds it), or set NSEBOX_EXECUTABLE.")
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    throw message
}

// MARK: - Reports

/// The lines of an nmap normal-output report that must match between nmap and
/// nsebox: from the first "Nmap scan report for" line up to (not including)
/// the "Nmap done" (or "nsebox done") line. The latency in "Host is up (0.00012s latency)." is
/// dropped ("Host is up."; "Host is up, received … (…latency)." likewise keeps
/// its text), and blank lines at both ends are dropped. Lines are otherwise
/// kept verbatim (split on "\n" only). Empty when there is no scan report.
func reportBody(_ text: String) -> [String] {
    let lines = text.components(separatedBy: "\n")
    guard let start = lines.firstIndex(where: { $0.hasPrefix("Nmap scan report for") }) else { return [] }
    let end = lines[start...].firstIndex(where: { $0.hasPrefix("Nmap done") || $0.hasPrefix("nsebox done") }) ?? lines.endIndex
    var body = lines[start..<end].map { line -> String in
        guard line.hasPrefix("Host is up") else { return line }
        return removingLatency(line)
    }
    while let first = body.first, isBlank(first) { body.removeFirst() }
    while let last = body.last, isBlank(last) { body.removeLast() }
    return body
}

/// "Host is up (0.00012s latency)." -> "Host is up."
private func removingLatency(_ line: String) -> String {
    guard let close = line.range(of: " latency)", options: .backwards),
          let open = line.range(of: " (", options: .backwards, range: line.startIndex..<close.lowerBound)
    else { return line }
    return String(line[..<open.lowerBound]) + String(line[close.upperBound...])
}

private func isBlank(_ line: String) -> Bool {
    line.allSatisfy { $0 == " " || $0 == "\t" || $0 == "\r" }
}

/// True for a line of script output ("| …" or "|_…").
func isScriptLine(_ line: String) -> Bool { line.hasPrefix("|") }

/// True for a port table row such as "8080/tcp open  http-proxy".
func isPortLine(_ line: String) -> Bool {
    guard let slash = line.firstIndex(of: "/"), slash > line.startIndex,
          line[..<slash].allSatisfy(\.isNumber) else { return false }
    let rest = line[line.index(after: slash)...]
    return ["tcp ", "udp ", "sctp "].contains { rest.hasPrefix($0) }
}

/// True for a heading that script output follows outside the port table:
/// "Host script results:", "Pre-scan script results:", "Post-scan script results:".
func isScriptResultsHeading(_ line: String) -> Bool { line.hasSuffix("script results:") }

/// Script output grouped by what it follows: key is the port line (e.g.
/// "8080/tcp open  http-proxy") or the heading ("Host script results:"); value
/// is that key's script blocks, each one script's whole output (its lines
/// joined with "\n", from "| name:" through the "|_" line), sorted, so two
/// reports compare equal whatever order the scripts finished in. Pass one
/// host's lines (see `hostReports`) when a report has several hosts: keys are
/// not qualified by host. Script lines before any key go under "".
func scriptBlocks(_ lines: [String]) -> [String: [String]] {
    var result: [String: [String]] = [:]
    var key = ""
    var current: [String] = []
    func finish() {
        if !current.isEmpty { result[key, default: []].append(current.joined(separator: "\n")) }
        current = []
    }
    for line in lines {
        if isScriptLine(line) {
            current.append(line)
            if line.hasPrefix("|_") { finish() }
        } else {
            finish()
            if isPortLine(line) || isScriptResultsHeading(line) { key = line }
        }
    }
    finish()
    return result.mapValues { $0.sorted() }
}

/// The lines of a report that are not script output (the order of these
/// must match exactly).
func reportSkeleton(_ lines: [String]) -> [String] {
    lines.filter { !isScriptLine($0) }
}

/// A report body split into one list of lines per host, each starting with
/// its "Nmap scan report for" line (a "Post-scan script results:" section
/// stays with the last host).
func hostReports(_ lines: [String]) -> [[String]] {
    var hosts: [[String]] = []
    for line in lines {
        if line.hasPrefix("Nmap scan report for") || hosts.isEmpty {
            hosts.append([line])
        } else {
            hosts[hosts.count - 1].append(line)
        }
    }
    return hosts
}

/// How report body `actual` differs from `expected` (both from `reportBody`):
/// the non-script lines must be equal in order, and each host's script blocks
/// equal per port/heading in any order. Empty when they match.
func reportDifferences(expected: [String], actual: [String]) -> [String] {
    var differences: [String] = []
    let expectedSkeleton = reportSkeleton(expected)
    let actualSkeleton = reportSkeleton(actual)
    if expectedSkeleton != actualSkeleton {
        for index in 0..<max(expectedSkeleton.count, actualSkeleton.count) {
            let e = index < expectedSkeleton.count ? expectedSkeleton[index] : "(none)"
            let a = index < actualSkeleton.count ? actualSkeleton[index] : "(none)"
            if e != a { differences.append("line \(index + 1): expected \(e.debugDescription), got \(a.debugDescription)") }
        }
    }
    let expectedHosts = hostReports(expected)
    let actualHosts = hostReports(actual)
    for (index, (e, a)) in zip(expectedHosts, actualHosts).enumerated() {
        let eBlocks = scriptBlocks(e)
        let aBlocks = scriptBlocks(a)
        for key in Set(eBlocks.keys).union(aBlocks.keys).sorted() {
            let eList = eBlocks[key] ?? []
            let aList = aBlocks[key] ?? []
            guard eList != aList else { continue }
            let place = "host \(index + 1), under \(key.isEmpty ? "(no heading)" : key.debugDescription)"
            for block in eList where !aList.contains(block) {
                differences.append("\(place): missing script output\n\(block)")
            }
            for block in aList where !eList.contains(block) {
                differences.append("\(place): unexpected script output\n\(block)")
            }
            if Set(eList) == Set(aList) {
                differences.append("\(place): script outputs repeated a different number of times")
            }
        }
    }
    return differences
}

/// The machine's list of network interfaces, which some tests change and
/// others report: a test that adds interfaces (a network namespace and its veth
/// pair) holds this shared while they exist; a scan whose results list the
/// machine's interfaces (snmp-interfaces, in the conformance suite) holds it
/// exclusive, so that nmap's runs and nsebox's see the same list. A file lock:
/// the two are in different test targets. Released when the value goes away.
final class InterfacesLock {
    private let fd: Int32

    init(exclusive: Bool) {
        fd = open("/tmp/nsebox-tests-interfaces.lock", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        // Without the file, no lock: the tests still run, as before.
        while fd >= 0 && flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0 && errno == EINTR {}
    }

    deinit { if fd >= 0 { close(fd) } }
}
