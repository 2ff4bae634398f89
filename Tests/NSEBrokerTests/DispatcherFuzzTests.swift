import Glibc
import Testing
@testable import NSEBroker
import NSESystem
import NSEWire

// The broker's dispatcher under a seeded random harness: a ChildSession whose
// "child" is this test (its end of the socketpair) and a stand-in process to kill
// and reap (/bin/sleep). Each round says helloAck, then sends frames: mostly
// requests of every op a child may send, with arguments of the schema's kinds but
// random contents (hosts, ports, paths, modes, tables), sometimes garbage; then it
// hangs up. The broker must answer or end the session every time, never crash or
// hang, and give back every descriptor it opened.

/// SplitMix64, as in NSEWireTests.
struct Mix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomValue(_ kind: ArgumentKind, _ rng: inout Mix, depth: Int = 0) -> Value {
    switch kind {
    case .int:
        return .int([Int64(0), 1, -1, 2, 3, 53, 80, 65535, 65536, Int64.max, Int64.min,
                     Int64.random(in: -100...100_000, using: &rng)].randomElement(using: &rng)!)
    case .string:
        let samples = ["", "global", "host", "127.0.0.1", "::1", "0.0.0.0", "10.0.0.1", "localhost", "tcp", "udp",
                       "ssl", "open", "closed", "http", "../../etc/passwd", "/etc/shadow", "?nmap-services",
                       "nmap-services", "nselib/data/passwords.lst", String(repeating: "A", count: 300)]
        if Bool.random(using: &rng) { return .string(samples.randomElement(using: &rng)!) }
        return .bytes((0..<Int.random(in: 0...24, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    case .table, .tableOrNil, .any:
        if kind == .tableOrNil && Bool.random(using: &rng) { return .none }
        if kind == .any && Bool.random(using: &rng) { return randomValue(.int, &rng) }
        var fields: [(String, Value)] = []
        for i in 0..<Int.random(in: 0...4, using: &rng) {
            let v: Value = depth < 3 && Bool.random(using: &rng)
                ? randomValue(.table, &rng, depth: depth + 1) : randomValue(.string, &rng)
            fields.append((["number", "protocol", "state", "name", "k\(i)"].randomElement(using: &rng)!, v))
        }
        return .record(fields)
    }
}

/// Ops a child may send while it runs; resolve is left out (a real DNS lookup
/// per frame) and result comes rarely (after it, every request is a violation).
let childOps = Op.allCases.filter { $0.sender == .child && ![.resolve, .helloAck, .result].contains($0) }

func randomFrame(_ rng: inout Mix, id: UInt32) -> [UInt8] {
    var op = childOps.randomElement(using: &rng)!
    if Int.random(in: 0..<5000, using: &rng) == 0 { op = .result }
    var values = op.arguments.map { randomValue($0, &rng) }
    // Mostly in-range modes and states, so that a round goes on past them.
    if op == .receive && Int.random(in: 0..<100, using: &rng) > 0 { values[1] = .int(Int64.random(in: 0...2, using: &rng)) }
    if op == .setPortState && Int.random(in: 0..<100, using: &rng) > 0 { values[2] = .string(Bool.random(using: &rng) ? "open" : "closed") }
    var bytes = Frame(op, requestID: id, values).encoded()
    if Int.random(in: 0..<3000, using: &rng) == 0 && !bytes.isEmpty {  // now and then, garbage
        bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 0xFF
    }
    return bytes
}

func standInChild() -> pid_t {
    var pid: pid_t = 0
    let args: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("600"), nil]
    defer { for a in args { free(a) } }
    guard posix_spawn(&pid, "/bin/sleep", nil, nil, args, nil) == 0 else { return -1 }
    return pid
}

/// The open descriptors that are sockets: what the broker opens for a session
/// (its end of the socketpair, network sockets). The test harness's own files
/// and pipes come and go and are not counted.
func openSockets() -> Set<Int32> {
    var out: Set<Int32> = []
    guard let d = opendir("/proc/self/fd") else { return out }
    defer { closedir(d) }
    while let e = readdir(d) {
        let name = withUnsafePointer(to: e.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
        guard let fd = Int32(name) else { continue }
        var target = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(name)", &target, target.count - 1)
        if n > 0, String(cString: target).hasPrefix("socket:") { out.insert(fd) }
    }
    return out
}

/// Why a fuzzing run failed, as its exit status.
enum FuzzFailure: Int32 {
    case setup = 10, hung, fewAnswers, oneEndingOnly, descriptorsLeft
}

/// The whole run, in its own process (see the test): 10^6 requests in 2,000
/// sessions. Returns nil, or what went wrong.
func fuzzDispatcher() throws -> FuzzFailure? {
    let broker = try Broker(config: BrokerConfig(childPath: "/bin/sleep", policyText: "format 1\nname fuzz\ndefault kill\n",
                                                 dataDirectories: []))
    var rng = Mix(state: 0x6E73_6562_6F78_4655)
    let before = openSockets()
    var frames = 0, violations = 0, hangups = 0, answered = 0
    let rounds = 2000, framesPerRound = 500  // 10^6 requests
    for round in 0..<rounds {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else { return .setup }
        let ours = fds[1]
        _ = fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK)
        let pid = standInChild()
        guard pid > 0 else { return .setup }
        var outcome: ScriptOutcome?
        let job = ScriptJob(mode: .instance, scriptPath: "/fuzz.nse", scriptName: "fuzz", source: [], rule: "portrule")
        let session = ChildSession(job: job, label: "fuzz#\(round)", broker: broker, rpc: NetSocket.Handle(FileDescriptor(taking: fds[0])),
                                   process: .spawned(pid),
                                   hello: Frame(.hello, [.int(WireLimits.protocolVersion), .string("format 1\nname fuzz\ndefault kill\n")]).encoded()) { outcome = $0 }
        var stream = Frame(.helloAck, [.int(WireLimits.protocolVersion)]).encoded()
        for i in 0..<framesPerRound { stream += randomFrame(&rng, id: UInt32(i + 1)) }
        frames += framesPerRound
        // Write as the socket takes it, draining replies, while the broker runs.
        var offset = 0
        var sink = [UInt8](repeating: 0, count: 65536)
        var replies = FrameDecoder()
        func drain() {
            while case let n = read(ours, &sink, sink.count), n > 0 {
                replies.feed(sink[..<n])
                while let frame = try? replies.next() { if frame.isReply { answered += 1 } }
            }
        }
        let deadline = clock_gettime_seconds() + 30
        while outcome == nil {
            while offset < stream.count {
                let n = stream[offset...].withUnsafeBytes { write(ours, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                offset += n
            }
            // Then hang up and end, as a real child does after its last frame.
            if offset == stream.count && shutdown(ours, Int32(SHUT_WR)) == 0 {
                offset += 1
                kill(pid, SIGKILL)
            }
            drain()
            // A few turns of the loop; the timer bounds a turn (a pending sleep
            // request could otherwise hold poll for minutes).
            var turns = 0
            _ = broker.reactor.after(0.001) {}
            broker.reactor.run(until: { turns += 1; return turns > 2 || outcome != nil })
            if clock_gettime_seconds() > deadline { return .hung }
        }
        drain()  // the replies still queued in our end
        close(ours)
        withExtendedLifetime(session) {}
        if outcome?.status == "protocol-error" { violations += 1 } else { hangups += 1 }
    }
    print("dispatcher fuzzing: \(frames) requests sent in \(rounds) sessions, \(answered) answered, "
          + "\(violations) sessions ended for a violation, \(hangups) by hanging up")
    if answered < frames / 4 { return .fewAnswers }
    if violations < 10 || hangups < 10 { return .oneEndingOnly }
    // A leak would leave one socket per session (2,000); allow the last one or
    // two still being torn down on a loaded machine.
    let left = openSockets().subtracting(before)
    if left.count > 2 {
        print("dispatcher fuzzing: sockets left open: \(left.sorted())")
        return .descriptorsLeft
    }
    return nil
}

@Suite("Broker dispatcher fuzzing")
struct DispatcherFuzzTests {
    /// In a process of its own, so that the descriptor count is the broker's
    /// alone (other tests run beside this one in the test process). The exit
    /// status says which check failed (`FuzzFailure`).
    @Test func randomRequestsNeverCrashOrHangTheBroker() async {
        await #expect(processExitsWith: .success) {
            do {
                if let failure = try fuzzDispatcher() { exit(failure.rawValue) }
                exit(0)
            } catch {
                exit(FuzzFailure.setup.rawValue)
            }
        }
    }
}

func clock_gettime_seconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

/// A script's child that sends what only the broker or the zygote may send
/// (a forged `run`, a `spawnChild`, a `zygoteBytecode` that would plant
/// bytecode in the cache, ...) ends its session as a protocol violation, with
/// no effect: one session per such op, after a proper helloAck.
@Suite("Ops a script's child may not send")
struct ForeignOpTests {
    @Test func everyBrokerOrZygoteOpFromAChildIsAViolation() throws {
        let policy = "format 1\nname fuzz\ndefault kill\n"
        let broker = try Broker(config: BrokerConfig(childPath: "/bin/sleep", policyText: policy, dataDirectories: []))
        let foreign = Op.allCases.filter { $0.sender != .child }
        #expect(foreign.contains(.zygoteBytecode) && foreign.contains(.run))
        var mix = Mix(state: 75)
        for op in foreign {
            var fds: [Int32] = [-1, -1]
            try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
            let pid = standInChild()
            try #require(pid > 0)
            var outcome: ScriptOutcome?
            let job = ScriptJob(mode: .instance, scriptPath: "/foreign.nse", scriptName: "foreign", source: [], rule: "portrule")
            let session = ChildSession(job: job, label: "foreign", broker: broker, rpc: NetSocket.Handle(FileDescriptor(taking: fds[0])),
                                       process: .spawned(pid),
                                       hello: Frame(.hello, [.int(WireLimits.protocolVersion), .string(policy)]).encoded()) { outcome = $0 }
            let frames = Frame(.helloAck, [.int(WireLimits.protocolVersion)]).encoded()
                + Frame(op, requestID: 1, op.arguments.map { randomValue($0, &mix) }).encoded()
            #expect(frames.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } == frames.count)
            let deadline = clock_gettime_seconds() + 10
            while outcome == nil && clock_gettime_seconds() < deadline {
                var turns = 0
                _ = broker.reactor.after(0.001) {}
                broker.reactor.run(until: { turns += 1; return turns > 2 || outcome != nil })
            }
            #expect(outcome?.status == "protocol-error", "\(op): \(String(describing: outcome))")
            kill(pid, SIGKILL)
            close(fds[1])
            withExtendedLifetime(session) {}
        }
    }
}
