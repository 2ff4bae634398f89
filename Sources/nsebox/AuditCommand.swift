import ArgumentParser
import Glibc
import NSEEngine

/// `nsebox audit verify|show|pcap FILE`: reads an audit log (docs/audit.md).
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox audit", abstract: "Work with audit logs (docs/audit.md).",
        subcommands: [Verify.self, Show.self, Pcap.self])

    /// Says what went wrong on stderr; the caller throws the result (exit status 1).
    static func failure(_ message: String) -> ExitCode {
        FileHandleOut.stderr("nsebox: \(message)\n")
        return ExitCode.failure
    }

    /// The file's bytes, or a clear error and exit status 1.
    static func read(_ file: String) throws -> [UInt8] {
        guard let f = fopen(file, "rb") else { throw failure("cannot read \(file): \(String(cString: strerror(errno)))") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while case let n = fread(&chunk, 1, chunk.count, f), n > 0 { bytes += chunk[..<n] }
        return bytes
    }

    /// The complete lines (a torn last line is left out), parsed; a line that is
    /// not a record is an error naming it.
    static func records(_ file: String) throws -> [[String: String]] {
        let bytes = try read(file)
        var out: [[String: String]] = []
        var start = 0
        while let end = bytes[start...].firstIndex(of: 10) {
            guard let r = AuditRecord.parse(String(decoding: bytes[start..<end], as: UTF8.self)) else {
                throw failure("\(file): line \(out.count + 1) is not a record")
            }
            out.append(r)
            start = end + 1
        }
        return out
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check an audit log's hash chain: exit 0 when it is whole, else name the first bad line and exit 1.")

        @Argument(help: "The audit log.")
        var file: String

        func run() throws {
            let report = AuditVerify.verify(try AuditCommand.read(file))
            if let bad = report.failure { throw AuditCommand.failure("\(file): line \(bad.line): \(bad.reason)") }
            print("\(file): \(report.records) records, chain whole"
                  + (report.ended ? ", ended by the broker" : ", no end record (the broker did not finish)"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print an audit log as a transcript: connects, sends and receives with hex and text dumps.")

        @Argument(help: "The audit log.")
        var file: String

        @Option(name: .customLong("script"), help: "Only this script's instances.")
        var script: String?

        @Option(name: .customLong("target"), help: "Only instances whose target is this host (or HOST:PORT/PROTO).")
        var target: String?

        func run() throws {
            let transcript = Transcript()
            for record in try AuditCommand.records(file) {
                if let script, record["script"] != script { continue }
                if let target, let t = record["target"], t != target && !t.hasPrefix(target + ":") { continue }
                for line in transcript.lines(event: record["event"] ?? "?", instance: record["instance"] ?? "",
                                             target: record["target"] ?? "", fields: record) {
                    print(line)
                }
            }
        }
    }

    struct Pcap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pcap",
            abstract: "Write an audit log's TCP and UDP conversations as synthesized packets to a pcapng file.")

        @Argument(help: "The audit log.")
        var file: String

        @Option(name: .customShort("o"), help: "The pcapng file to write.")
        var output: String

        func run() throws {
            let bytes = AuditPcap.pcapng(try AuditCommand.records(file))
            let out = fopen(output, "wb")
            let written = out.map { fwrite(bytes, 1, bytes.count, $0) } ?? 0
            guard let out, fclose(out) == 0, written == bytes.count else {
                throw AuditCommand.failure("cannot write \(output): \(String(cString: strerror(errno)))")
            }
        }
    }
}
