import ArgumentParser
import NSEPolicy

/// `nsebox policy check NAME|FILE`: parses a sandbox policy and prints what it
/// allows, or the error (with its line) and exit status 1. Dispatched by
/// `Nsebox.main` like `compat`.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nsebox policy",
        abstract: "Work with sandbox policies (docs/sandbox.md).",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a policy and print what it allows.",
            discussion: "NAME is looked up in sandbox-policies/; anything with a '/' or ending in .policy is a file.")

        @Argument(help: "A policy name or file.")
        var policy: String

        func run() throws {
            let path: String, text: String
            do { (path, text) = try Locations.policy(policy) } catch {
                FileHandleOut.stderr("nsebox: \(error)\n")
                throw ExitCode.failure
            }
            do {
                let parsed = try PolicyParser.parse(text)
                print("\(path): valid")
                print(parsed.summary, terminator: "")
            } catch {
                FileHandleOut.stderr("nsebox: policy \(path): \(error)\n")
                throw ExitCode.failure
            }
        }
    }
}
