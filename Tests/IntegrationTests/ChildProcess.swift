import Foundation
#if canImport(Glibc)
import Glibc
#endif

// A child process started with posix_spawn and reaped with waitpid on its own
// pid only.
//
// Not Foundation's Process: on Linux its single monitoring thread learns of a
// child's exit from a socket the child inherits, and then does a *blocking*
// waitpid on that child. sshd closes every inherited descriptor at start, so
// Foundation takes it for dead and blocks forever in waitpid(sshd), and from
// then on no Process in the test binary is ever seen to exit (the tests hang).

enum SpawnError: Error, CustomStringConvertible {
    case failed(command: [String], errno: Int32)
    case cannotOpen(path: String, errno: Int32)

    var description: String {
        switch self {
        case let .failed(command, code):
            return "cannot start \(command.joined(separator: " ")): \(String(cString: strerror(code)))"
        case let .cannotOpen(path, code):
            return "cannot open \(path): \(String(cString: strerror(code)))"
        }
    }
}

final class ChildProcess {
    let pid: pid_t
    let command: [String]
    /// Set once the child has been reaped: its exit status, or 128 + signal.
    private(set) var exitCode: Int32?
    /// True when a signal ended it.
    private(set) var wasSignaled = false

    /// Starts `executable` in a new process group of its own (so `terminate`
    /// also reaches what it forks), with default signal handling and an empty
    /// signal mask (the test's dispatch threads block most signals, which a
    /// child would inherit), stdin from /dev/null, stdout and stderr appended
    /// to the given files (they may be the same), and no other inherited
    /// descriptors. `environment` nil keeps ours.
    init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        stdoutPath: String, stderrPath: String
    ) throws {
        command = [executable] + arguments
        let outFD = open(stdoutPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard outFD >= 0 else { throw SpawnError.cannotOpen(path: stdoutPath, errno: errno) }
        defer { close(outFD) }
        var errFD = outFD
        if stderrPath != stdoutPath {
            errFD = open(stderrPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard errFD >= 0 else { throw SpawnError.cannotOpen(path: stderrPath, errno: errno) }
        }
        defer { if errFD != outFD { close(errFD) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errFD, 2)
        if let closeFrom = ChildProcess.addCloseFrom { _ = closeFrom(&actions, 3) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp: [UnsafeMutablePointer<CChar>?] = environmentLines.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }

        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw SpawnError.failed(command: command, errno: result) }
        pid = child
    }

    /// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+), which Swift's
    /// Glibc module does not export.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: AddCloseFrom.self) }

    /// True until the child exits. Does not reap it: while it is an unreaped
    /// zombie its pid, and so its process group id, stay ours to signal.
    var isRunning: Bool {
        guard exitCode == nil else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[close...].dropFirst().drop { $0 == " " }.first
        return state != "Z" && state != "X"
    }

    /// Waits up to `timeout` seconds for the child to exit; true if it did.
    /// Call `finish()` afterwards to reap it.
    @discardableResult
    func wait(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// Kills what is left of the child's process group (the child itself
    /// if it still runs, and anything it forked), then reaps the child and
    /// records `exitCode`. Does nothing once it was reaped.
    func finish() {
        guard exitCode == nil else { return }
        kill(-pid, SIGKILL)
        var status: Int32 = 0
        var result: pid_t
        repeat {
            result = waitpid(pid, &status, 0)
        } while result < 0 && errno == EINTR
        guard result == pid else { exitCode = -1; return }
        let signal = status & 0x7f
        if signal == 0 {
            exitCode = (status >> 8) & 0xff
        } else {
            wasSignaled = true
            exitCode = 128 + signal
        }
    }

    /// SIGTERM to the child's process group, up to `grace` seconds to exit,
    /// then `finish()` (SIGKILL to the group, reap).
    func terminate(grace: TimeInterval = 5) {
        guard exitCode == nil else { return }
        if isRunning {
            kill(-pid, SIGTERM)
            wait(timeout: grace)
        }
        finish()
    }
}
