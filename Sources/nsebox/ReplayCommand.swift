import Glibc
import NSEBroker
import NSEEngine

/// `nsebox replay FILE [OPTIONS]`: runs the scan an audit log recorded again,
/// offline. The recorded command line is rerun without its output files and
/// audit log (OPTIONS given here are added, e.g. -oX or --audit-log), with the
/// broker answering every socket operation from the recording.
enum ReplayCommand {
    /// Options of the recorded command line that name files the replay must not
    /// overwrite or read (each takes a value).
    static let dropped: Set<String> = ["-oN", "-oX", "-oJ", "-oA", "--audit-log", "--nmap-xml"]

    /// The log `main` read, for the scan it starts (so the file is read once).
    nonisolated(unsafe) static var loaded: RecordedScan?

    static func main(_ args: [String]) {
        guard let file = args.first, !file.hasPrefix("-") else {
            FileHandleOut.stderr("usage: nsebox replay FILE [OPTIONS]\n"
                + "Runs the scan recorded in the audit log FILE again, answering every socket operation from the\n"
                + "recording, and prints its report. OPTIONS (-oX FILE, --audit-log FILE, -d, ...) are added to the\n"
                + "recorded command line. Exit status 1 when a script departs from its recording.\n")
            exit(2)
        }
        let records: [[String: String]]
        do {
            let bytes = try AuditCommand.read(file)
            let check = AuditVerify.verify(bytes)
            if let bad = check.failure {
                fail("\(file): line \(bad.line): \(bad.reason): the log is not the broker's, so it is not replayed")
            }
            records = try AuditCommand.records(file)
        } catch { exit(1) }
        let scan: RecordedScan
        do { scan = try RecordedScan(records: records) } catch { fail("\(file): \(error)") }
        loaded = scan
        Nsebox.main(rerun(scan.arguments) + args.dropFirst() + ["--replay-log", file])
    }

    /// The recorded arguments (after the program's name) without `dropped` options.
    static func rerun(_ recorded: [String]) -> [String] {
        var out: [String] = []
        var skipValue = false
        for a in recorded.dropFirst() {
            if skipValue { skipValue = false; continue }
            if dropped.contains(a) || a == "--replay-log" { skipValue = true; continue }
            if let eq = a.firstIndex(of: "="), dropped.contains(String(a[..<eq])) || a.hasPrefix("--replay-log=") { continue }
            out.append(a)
        }
        return out
    }

    /// After the replayed scan: recorded instances that did not run, and the exit
    /// status (1 when any script departed from its recording).
    static func finish(_ recording: Recording) {
        for i in recording.unclaimed {
            FileHandleOut.stderr("nsebox: replay: \(i.label) (\(i.script)\(i.target.isEmpty ? "" : " against " + i.target)) was recorded but did not run\n")
        }
        let n = recording.departures.count + recording.unclaimed.count
        if n > 0 {
            FileHandleOut.stderr("nsebox: replay: \(n) departure\(n == 1 ? "" : "s") from the recording\n")
            exit(1)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandleOut.stderr("nsebox: \(message)\n")
        exit(1)
    }
}
