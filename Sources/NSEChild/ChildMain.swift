import CLPeg
import CNSEModules
import CLua
import CSandboxSys
import Glibc
import NSEPolicy
import NSESandbox
import NSESystem
import NSEWire

/// The sandboxed child: one script instance (or one script description) per process.
///
/// Order matters and is fail-closed: take fd 3, close everything else, read the
/// policy from the broker, apply it (rlimits, NO_NEW_PRIVS, seccomp), and only then
/// create a Lua state and look at the script. Any failure before Lua exits non-zero.
public enum ChildMain {
    public static let rpcFD: Int32 = 3

    public static func run() -> Never {
        if CommandLine.arguments.dropFirst().first == Zygote.argument {
            Zygote.hugeText = !CommandLine.arguments.contains("--no-huge-text")
            Zygote.run()
        }
        let (client, _) = confine(zygote: false)
        runLua(job: readJob(client))
        exit(0)
    }

    /// The policy text of the broker's `hello`; any other frame ends the process.
    static func readHello(_ client: RPCClient) -> String {
        guard let hello = try? client.readFrame() else { exit(71) }
        guard hello.request == .hello, !hello.isReply, (try? hello.validateArguments()) != nil,
              hello.values[0].int == WireLimits.protocolVersion, let policyText = hello.values[1].text
        else { fail(client, "bad hello from broker") }
        return policyText
    }

    /// The job of the broker's `run`; any other frame ends the process.
    static func readJob(_ client: RPCClient) -> Value {
        guard let run = try? client.readFrame() else { exit(71) }
        guard run.request == .run, !run.isReply, run.values.count == 1 else { fail(client, "expected a job") }
        return run.values[0]
    }

    /// Takes fd 3, reads the policy from the broker's hello and applies it (a
    /// zygote its own variant), then acknowledges. Exits on any failure.
    static func confine(zygote: Bool) -> (RPCClient, (policy: Policy, text: String)) {
        _ = nse_close_from(4)
        let client = RPCClient(fd: FileDescriptor(taking: rpcFD))
        rpcClient = client
        do {
            let policyText = readHello(client)
            let policy: Policy
            do { policy = try PolicyParser.parse(policyText) } catch { fail(client, "policy: \(error)") }
            tzset() // read /etc/localtime now: the sandbox allows no open
            if zygote {
                // The instances' own filter, made while the pipe to export it may still be opened.
                do { Zygote.instanceFilter = try Sandbox.exportFilter(policy) } catch { fail(client, "\(error)") }
                // Code on huge pages, shared by every instance (a speed-up only: on failure, as
                // before): the page cache's own 2 MiB folios if the broker readied them, else a copy.
                if Zygote.hugeText && nse_hugefile_map() <= 0 { _ = nse_hugetext() }
                // nselib's bulk data in memory no fork copies (a speed-up only: without it, as before).
                _ = nse_coldheap_create(Zygote.coldHeapBytes)
            }
            // New namespaces and an empty root where the kernel allows them.
            var step: UnsafePointer<CChar>? = nil
            if nse_isolate(&step) < 0 {
                let call = step.map { String(cString: $0) } ?? "isolate"
                fail(client, "sandbox: \(call): \(String(cString: strerror(errno)))")
            }
            do {
                if zygote { try Sandbox.applyZygote(policy) } else { try Sandbox.apply(policy) }
            } catch { fail(client, "\(error)") }
            client.waitsInPoll = policy.alwaysAllows("poll")
            client.mayReadNow = policy.allows("recvfrom", onDescriptor: UInt64(rpcFD))
            try client.notify(.helloAck, [.int(WireLimits.protocolVersion)])
            return (client, (policy, policyText))
        } catch {
            exit(71)
        }
    }

    /// Reports why the child cannot start, then exits before any script code runs.
    static func fail(_ client: RPCClient, _ message: String) -> Never {
        try? client.notify(.result, [.record(["status": "sandbox-failed", "message": .string(message)])])
        exit(70)
    }

    static func runLua(job: Value) {
        guard let state = LuaState(job: job) else { exit(72) }
        // Every random byte of the instance comes from the broker's seed (replay).
        if case .bytes(let seed) = job["random_seed"], nse_random_seed(seed, seed.count) != 0 { exit(72) }
        rpcClient.spinMicros = min(1000, max(0, Int(job["spin_us"].int ?? 0)))
        if job["wait_in_read"] == .bool(true) { rpcClient.waitsInPoll = false }
        for (name, source) in Bootstrap.parts {
            guard load(state.L, source, name: name), state.callLoadedPart(name) else { return }
        }
    }

    static func load(_ L: OpaquePointer, _ source: String, name: String) -> Bool {
        var source = source
        let status = source.withUTF8 { p in
            p.withMemoryRebound(to: CChar.self) { nse_loadbuffer_text(L, $0.baseAddress, $0.count, "=nsebox/\(name)") }
        }
        if status != LUA_OK {
            let msg = nse_tolstring(L, -1, nil).map { String(cString: $0) } ?? "?"
            try? rpcClient.notify(.result, [.record(["status": "error", "message": .string("nsebox bootstrap: \(msg)")])])
            return false
        }
        return true
    }
}

/// A Lua state set up for the bootstrap: standard libraries, lpeg and nsebox's C
/// modules as preloads, and the three values every bootstrap part receives (the
/// primitives, the op numbers, and the shared table holding the job).
struct LuaState {
    let L: OpaquePointer
    let rt: Int32, ops: Int32, shared: Int32

    init?(job: Value) {
        guard let L = luaL_newstate() else { return nil }
        self.L = L
        luaL_openlibs(L)
        // package.preload.lpeg: Debian's lpeg, linked in (the sandbox loads no C modules).
        lua_getglobal(L, "package")
        lua_getfield(L, -1, "preload")
        lua_pushcclosure(L, luaopen_lpeg, 0)
        lua_setfield(L, -2, "lpeg")
        nse_pop(L, 2)
        nse_register_preloads(L) // openssl, zlib, ... (CNSEModules)
        Primitives.push(L)
        rt = lua_gettop(L)
        lua_createtable(L, 0, Int32(Op.allCases.count))
        for op in Op.allCases {
            lua_pushinteger(L, lua_Integer(op.rawValue))
            lua_setfield(L, -2, "\(op)")
        }
        ops = lua_gettop(L)
        lua_createtable(L, 0, 8)
        LuaValues.push(L, job)
        lua_setfield(L, -2, "job")
        shared = lua_gettop(L)
    }

    /// Calls the part on top of the stack with (rt, ops, shared); on an error
    /// reports it as the instance's result and returns false.
    func callLoadedPart(_ name: String) -> Bool {
        lua_pushvalue(L, rt)
        lua_pushvalue(L, ops)
        lua_pushvalue(L, shared)
        if nse_pcall(L, 3, 0, 0) != LUA_OK {
            let msg = nse_tolstring(L, -1, nil).map { String(cString: $0) } ?? "unknown error"
            try? rpcClient.notify(.result, [.record(["status": "error", "message": .string("nsebox bootstrap \(name): \(msg)")])])
            return false
        }
        return true
    }
}

/// The child's own Lua, in the order it runs.
enum Bootstrap {
    static let parts: [(String, String)] = [
        ("scheduler", bootstrapScheduler),
        ("libraries", bootstrapLibraries),
        ("nmap", bootstrapNmap),
        ("facts", bootstrapFacts),
        ("ssh2", bootstrapSSH2),
        ("engine", bootstrapEngine),
        ("run", bootstrapRun),
    ]
}
