import ArgumentParser
import Glibc
import NSEEngine

/// `nsebox audit verify FILE`: checks an audit log's hash chain.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox audit", abstract: "Work with audit logs (docs/audit.md).", subcommands: [Verify.self, Show.self, Pcap.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check an audit log's hash chain: exit 0 when it is whole, else name the first bad line and exit 1.")

        @Argument(help: "The audit log.")
        var file: String

        func run() throws {
            guard let f = fopen(file, "rb") else {
                FileHandleOut.stderr("nsebox: cannot read \(file): \(String(cString: strerror(errno)))\n")
                throw ExitCode.failure
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while case let n = fread(&chunk, 1, chunk.count, f), n > 0 { bytes += chunk[..<n] }
            fclose(f)
            let report = AuditVerify.verify(bytes)
            if let failure = report.failure {
                FileHandleOut.stderr("nsebox: \(file): line \(failure.line): \(failure.reason)\n")
                throw ExitCode.failure
            }
            print("\(file): \(report.records) records, chain whole" + (report.ended ? ", ended by the broker" : ", no end record (the broker did not finish)"))
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
            guard let f = fopen(file, "rb") else {
                FileHandleOut.stderr("nsebox: cannot read \(file): \(String(cString: strerror(errno)))\n")
                throw ExitCode.failure
            }
            defer { fclose(f) }
            let transcript = Transcript()
            var number = 0
            var line = [CChar](repeating: 0, count: 1 << 20)
            var pending = ""
            while fgets(&line, Int32(line.count), f) != nil {
                pending += String(cString: line)
                guard pending.hasSuffix("\n") else { continue }
                defer { pending = "" }
                number += 1
                guard let record = AuditRecord.parse(pending) else {
                    FileHandleOut.stderr("nsebox: \(file): line \(number) is not a record\n")
                    throw ExitCode.failure
                }
                if let script, record["script"] != script { continue }
                if let target, let t = record["target"], t != target && !t.hasPrefix(target + ":") { continue }
                for out in transcript.lines(event: record["event"] ?? "?", instance: record["instance"] ?? "",
                                            target: record["target"] ?? "", fields: record) {
                    print(out)
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
            var records: [[String: String]] = []
            guard let f = fopen(file, "rb") else {
                FileHandleOut.stderr("nsebox: cannot read \(file): \(String(cString: strerror(errno)))\n")
                throw ExitCode.failure
            }
            var line = [CChar](repeating: 0, count: 1 << 20)
            var pending = ""
            while fgets(&line, Int32(line.count), f) != nil {
                pending += String(cString: line)
                guard pending.hasSuffix("\n") else { continue }
                if let r = AuditRecord.parse(pending) { records.append(r) }
                pending = ""
            }
            fclose(f)
            let bytes = AuditPcap.pcapng(records)
            guard let out = fopen(output, "wb"), fwrite(bytes, 1, bytes.count, out) == bytes.count, fclose(out) == 0 else {
                FileHandleOut.stderr("nsebox: cannot write \(output): \(String(cString: strerror(errno)))\n")
                throw ExitCode.failure
            }
        }
    }
}
