import ArgumentParser
import Glibc
import NSEEngine

/// `nsebox audit verify FILE`: checks an audit log's hash chain.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox audit", abstract: "Work with audit logs (docs/audit.md).", subcommands: [Verify.self])

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
}
