import Foundation

/// Runs the installed nmap against loopback only, to compare our parsing and
/// formatting with the real thing. Every call scans 127.0.0.1 and nothing else.
enum NmapOracle {
    static let executable = "/usr/bin/nmap"
    static let servicesPath = "/usr/share/nmap/nmap-services"

    /// A connect scan of 127.0.0.1 with the given extra arguments; returns stdout.
    static func scanLoopback(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-sT", "-Pn", "-n"] + arguments + ["127.0.0.1"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The TCP ports nmap scanned, read from the XML `<scaninfo services="...">`.
    static func scannedTCPPorts(_ arguments: [String]) throws -> [Int] {
        let xml = try scanLoopback(arguments + ["-oX", "-"])
        guard let tag = xml.range(of: "<scaninfo type=\"connect\" protocol=\"tcp\"")
        else { return [] }
        let rest = xml[tag.upperBound...]
        guard let start = rest.range(of: " services=\"") else { return [] }
        let value = rest[start.upperBound...].prefix { $0 != "\"" }
        return expandRangeList(String(value))
    }

    /// Expands nmap's compact list "1,3-4,6" into [1, 3, 4, 6].
    static func expandRangeList(_ text: String) -> [Int] {
        text.split(separator: ",").flatMap { item -> [Int] in
            let bounds = item.split(separator: "-").compactMap { Int($0) }
            return bounds.count == 2 ? Array(bounds[0]...bounds[1]) : bounds
        }
    }

    /// The port table of nmap's normal output: the "PORT" header line and the
    /// lines after it up to the first blank line.
    static func portTableLines(_ output: String) -> [String] {
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let header = lines.firstIndex(where: { $0.hasPrefix("PORT ") }) else { return [] }
        return Array(lines[header...].prefix { !$0.isEmpty })
    }
}
