import CLua
import CNSEModules
import CSandboxSys
import Glibc
import NSEPolicy
import NSESandbox
import NSESystem
import NSEWire

/// The zygote: one sandboxed process per scan that sets up Lua, the bootstrap and
/// the scan's nselib modules once, then forks a script instance per job.
///
/// It neither runs nor compiles script code, only nsebox's bootstrap and nselib
/// from nmap's own install (the broker refuses it any other module), so what an
/// instance inherits is the same for all of them and nothing of an attacker's. Its filter is the policy's
/// plus `Sandbox.zygoteRules` (fork, wait, kill, ...); each instance stacks the
/// policy's own filter on it before it reads a byte from the broker
/// (`nse_zygote_serve`), so an instance can do exactly what a spawned child can.
enum Zygote {
    static let argument = "--zygote"
    /// The policy's filter as BPF, for the instances (made before confinement).
    nonisolated(unsafe) static var instanceFilter: [UInt8] = []
    /// `--zygote --no-huge-text` (the broker's NSEBOX_HUGE_TEXT=0) leaves the code
    /// in the file's pages, where profilers can name it.
    nonisolated(unsafe) static var hugeText = true
    /// The cold heap's size (coldheap.c): address space only, but for what
    /// the data.* modules fill (about 1 MiB for data.idnaMappings).
    static let coldHeapBytes = 16 << 20

    /// The zygote's policy and its text, for as long as it lives: an instance
    /// that released the last reference would free them, and every free writes
    /// (copies) the zygote's pages.
    nonisolated(unsafe) static var policy: (policy: Policy, text: String)?

    static func run() -> Never {
        let (client, policy) = ChildMain.confine(zygote: true)
        Zygote.policy = policy
        guard nse_zygote_prepare() == 0 else { ChildMain.fail(client, "zygote: sigaction: \(String(cString: strerror(errno)))") }
        let job = ChildMain.readJob(client)
        guard let state = LuaState(job: job) else { exit(72) }
        nse_coldheap_attach(state.L)
        nse_coldheap_push_use(state.L)
        lua_setfield(state.L, state.shared, "cold_heap")
        // Every part but the last, which runs the instance.
        let parts = Bootstrap.parts.dropLast()
        for (name, source) in parts {
            guard ChildMain.load(state.L, source, name: name), state.callLoadedPart(name) else { exit(0) }
        }
        let preloaded = preload(state, job["preload"].arrayPart.compactMap(\.text), client: client)
        // The instance's code, compiled once: the job swap and the last part.
        guard ChildMain.load(state.L, swapJob, name: "job"),
              ChildMain.load(state.L, Bootstrap.parts.last!.1, name: Bootstrap.parts.last!.0) else { exit(0) }
        let runPart = lua_gettop(state.L), swap = runPart - 1
        // libcrypto's initialization: once here, not in every instance that
        // uses the openssl module.
        nse_openssl_init()
        // What loading freed goes back to the kernel: every fork copies, and every
        // instance tears down, a page-table entry per resident page.
        warmRuntime(policyText: policy.text)
        // No more Lua here: the cold heap becomes a private mapping before the
        // first fork, or the zygote ends (a shared one would let instances
        // write each other's memory).
        guard nse_coldheap_freeze() >= 0 else { exit(72) }
        // Trimmed before the drain too: what the job's module sources took is
        // free in the middle of the heap, and a page the drain does not write
        // stays out of every fork.
        _ = malloc_trim(0)
        _ = nse_malloc_drain()
        _ = malloc_trim(0)
        do { try client.notify(.zygoteReady, [.int(Int64(preloaded))]) } catch { exit(71) }
        let nproc = policy.policy.limits.last { $0.resource == .nproc }.map { Int(clamping: $0.value) } ?? -1
        serve(client, nproc: nproc, state: state, swap: swap, runPart: runPart)
    }

    /// Swift's runtime builds some type metadata the first time a process needs
    /// it: the zygote never freed a long String nor decoded a hello, so every
    /// instance built them again (a tenth of a do-nothing instance's CPU). One
    /// hello, decoded from a fresh decoder and dropped here, builds them once.
    @inline(never)
    static func warmRuntime(policyText: String) {
        var decoder = FrameDecoder()
        decoder.feed(Frame(.hello, [.int(WireLimits.protocolVersion), .string(policyText)]).encoded())
        guard let frame = try? decoder.next(), (try? frame.validateArguments()) != nil,
              frame.values[1].text == policyText else { exit(72) }
    }

    /// Loads the modules (and what they require) into the zygote; a module that
    /// fails to load here (it asked the broker for more than its source) is left
    /// for the instances to load themselves. Returns how many are loaded.
    static func preload(_ state: LuaState, _ names: [String], client: RPCClient) -> Int {
        guard ChildMain.load(state.L, #"""
            local names, S = ...
            for _, name in ipairs(names) do
              if not pcall(require, name) then package.loaded[name] = nil end
            end
            -- The sources the job carried are compiled now: not in the heap every
            -- instance copies (nor is the bytecode made of them for the broker).
            S.job.sources = nil
            local scripts = S.job.scripts and S.compile_scripts(S.job.scripts)
            S.job.scripts = nil
            local dumped = S.dumped
            S.dumped = nil
            -- Room in Lua's string table for an instance's own strings: when it
            -- fills up, Lua doubles it and relinks every string, which in an
            -- instance copies most of the zygote's pages (about 40 faults for a
            -- script that does nothing). Interning 512 new strings here shows
            -- whether there is that much room: if the table grows meanwhile (the
            -- heap jumps by the new bucket array), the zygote keeps the larger one.
            local probe = {}
            for i = 1, 256 do probe[i] = false end
            for i = 1, 256 do
              local before = collectgarbage("count")
              probe[i] = "\0nsebox-room\0" .. i
              if collectgarbage("count") - before > 4 then break end
            end
            probe = nil
            collectgarbage()
            local n = 0
            for _ in pairs(package.loaded) do n = n + 1 end
            return n, dumped, scripts
            """#, name: "preload") else { return 0 }
        LuaValues.push(state.L, .array(names.map { .string($0) }))
        lua_pushvalue(state.L, state.shared)
        guard nse_pcall(state.L, 2, 3, 0) == LUA_OK else { nse_pop(state.L, 1); return 0 }
        var isNum: Int32 = 0
        let n = nse_tointegerx(state.L, -3, &isNum)
        // The bytecode it made, modules for the broker's cache and scripts for
        // the instances' jobs (before zygoteReady, which the broker waits for
        // anyway), then out of the heap.
        let top = lua_gettop(state.L)
        let modules = lua_type(state.L, top - 1) == LUA_TTABLE ? try? LuaValues.read(state.L, top - 1) : nil
        let scripts = lua_type(state.L, top) == LUA_TTABLE ? try? LuaValues.read(state.L, top) : nil
        nse_pop(state.L, 3)
        if modules != nil || scripts != nil {
            try? client.notify(.zygoteBytecode, [modules ?? .table([]), scripts ?? .table([])])
            if ChildMain.load(state.L, "collectgarbage()", name: "collect") { _ = nse_pcall(state.L, 0, 0, 0) }
        }
        return Int(n)
    }

    /// What an instance takes over from the zygote (set before the first fork).
    nonisolated(unsafe) private static var forInstance: (state: LuaState, swap: Int32, runPart: Int32, client: RPCClient)?

    /// The zygote's loop (`nse_zygote_serve`, in C: it must write no memory the
    /// instances share): fork on `spawnChild`, kill on `killChild`, report every
    /// instance's end. Ends with the broker's connection (its instances die with it).
    static func serve(_ client: RPCClient, nproc: Int, state: LuaState, swap: Int32, runPart: Int32) -> Never {
        // Nothing the broker sent may wait in the client: the loop reads the socket itself.
        guard client.bufferedBytes == 0 else { exit(73) }
        forInstance = (state, swap, runPart, client)
        let request = IntegerFrameLayout(.spawnChild, integers: 1)  // killChild's differs only by its op
        let spawned = IntegerFrameLayout(.childSpawned, integers: 2), exited = IntegerFrameLayout(.childExited, integers: 4)
        // The loop never returns, so these buffers outlive it.
        request.bytes.withUnsafeBufferPointer { requestBytes in
            spawned.bytes.withUnsafeBufferPointer { spawnedBytes in
                exited.bytes.withUnsafeBufferPointer { exitedBytes in
                    instanceFilter.withUnsafeBytes { filter in
                        var wire = nse_zygote_wire(
                            request: requestBytes.baseAddress, request_size: request.bytes.count,
                            request_value: request.offsets[0], kill_op: Op.killChild.rawValue,
                            spawned: spawnedBytes.baseAddress, spawned_size: spawned.bytes.count,
                            spawned_values: (spawned.offsets[0], spawned.offsets[1]),
                            exited: exitedBytes.baseAddress, exited_size: exited.bytes.count,
                            exited_values: (exited.offsets[0], exited.offsets[1], exited.offsets[2], exited.offsets[3]))
                        nse_zygote_serve(ChildMain.rpcFD, &wire, filter.baseAddress, filter.count, nproc, runInstance)
                    }
                }
            }
        }
        exit(73) // not reached: nse_zygote_serve never returns
    }

    /// A new instance's start, once confined (on its own stack: see zygote.c).
    private static let runInstance: @convention(c) () -> Void = {
        guard let zygote = forInstance else { _exit(72) }
        zygote.client.restart()
        instance(zygote.state, swap: zygote.swap, runPart: zygote.runPart, client: zygote.client)
    }

    /// In a forked instance (already confined): the broker's hello on the new
    /// socket, then the job, swapped into the shared table, then the last part.
    static func instance(_ state: LuaState, swap: Int32, runPart: Int32, client: RPCClient) -> Never {
        do {
            // The policy the zygote applied, or none of this instance runs.
            guard ChildMain.readHello(client) == Zygote.policy?.text else { ChildMain.fail(client, "bad hello from broker") }
            try client.notify(.helloAck, [.int(WireLimits.protocolVersion)])
            // The job goes onto the Lua stack straight from the frame's bytes.
            let run = try client.readRawFrame()
            guard !run.isReply, run.op == Op.run.rawValue else { ChildMain.fail(client, "expected a job") }
            let L = state.L
            lua_pushvalue(L, swap)
            lua_pushvalue(L, state.shared)
            let whole = try ValueScanner.scan(run.values) { scanner in
                try LuaValues.push(L, &scanner)
                return scanner.atEnd
            }
            guard whole, lua_type(L, -1) == LUA_TTABLE else { ChildMain.fail(client, "expected a job") }
            lua_getfield(L, -1, "random_seed")
            if lua_type(L, -1) == LUA_TSTRING {
                var length = 0
                let seed = nse_tolstring(L, -1, &length)!
                if nse_random_seed(seed, length) != 0 { exit(72) }
            }
            nse_pop(L, 1)
            lua_getfield(L, -1, "spin_us")
            var isNumber: Int32 = 0
            client.spinMicros = min(1000, max(0, Int(nse_tointegerx(L, -1, &isNumber))))
            nse_pop(L, 1)
            lua_getfield(L, -1, "wait_in_read")
            if lua_toboolean(L, -1) != 0 { client.waitsInPoll = false }
            nse_pop(L, 1)
            guard nse_pcall(L, 2, 0, 0) == LUA_OK else { exit(72) }
            lua_pushvalue(L, runPart)
            _ = state.callLoadedPart(Bootstrap.parts.last!.0)
        } catch {
            _exit(71)
        }
        // Not exit(3): the atexit handlers are the zygote's (OpenSSL's cleanup
        // alone would cost more than the instance), and every byte is written.
        _exit(0)
    }

    /// The bootstrap parts keep the table `S.job` they saw when the zygote loaded
    /// them: the instance's job replaces its contents, not the table.
    static let swapJob = #"""
        local S, new = ...
        local job = S.job
        for k in pairs(job) do job[k] = nil end
        for k, v in pairs(new) do job[k] = v end
        """#
}

/// glibc's malloc_trim(3) (malloc.h is not part of the Glibc module).
@_silgen_name("malloc_trim") private func malloc_trim(_ pad: Int) -> Int32
