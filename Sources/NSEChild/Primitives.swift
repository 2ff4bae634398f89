import CLua
import CNSEModules
import CSandboxSys
import Glibc
import NSEWire

/// The few functions written in Swift that the bootstrap (bootstrap.lua.swift)
/// builds the `nmap` module on. They run through the C trampoline: on failure they
/// leave a message on the stack and return NSE_RAISE, never calling lua_error.
///
/// Both globals are the child's one thread's, and unchecked: a run-time check of
/// each access to a global began and ended every call (callgrind, perf).
@exclusivity(unchecked) nonisolated(unsafe) var rpcClient: RPCClient!
/// Replies that repeat, pushed as copies (`ReplyTemplates`).
@exclusivity(unchecked) nonisolated(unsafe) var replyTemplates = ReplyTemplates()

enum Primitives {
    static let table: [(String, nse_swift_function)] = [
        ("request", request), ("notify", notify), ("call", call), ("wait", wait),
        ("clock", clock), ("random_bytes", randomBytes),
    ]

    /// Registers the primitives as fields of a new table left on the stack.
    static func push(_ L: OpaquePointer) {
        lua_createtable(L, 0, Int32(table.count))
        for (name, f) in table {
            nse_push_swift_function(L, f)
            lua_setfield(L, -2, name)
        }
    }

    static func raise(_ L: OpaquePointer, _ message: String) -> Int32 {
        LuaValues.pushString(L, message)
        return NSE_RAISE
    }

    /// Reads the op number at index 1 and the values from index 2 on.
    static func opAndValues(_ L: OpaquePointer) throws -> (Op, [Value]) {
        var isNum: Int32 = 0
        let raw = nse_tointegerx(L, 1, &isNum)
        guard isNum != 0, let op = Op(rawValue: UInt8(truncatingIfNeeded: raw)), raw >= 0, raw < 128 else {
            throw UnsendableValue(what: "an unknown operation")
        }
        let n = lua_gettop(L)
        var values: [Value] = []
        if n >= 2 { for i in 2...n { values.append(try LuaValues.read(L, i)) } }
        return (op, values)
    }

    /// Pushes encoded values (a raw reply's) and returns how many.
    static func pushAll(_ L: OpaquePointer, _ encoded: ArraySlice<UInt8>) throws -> Int32 {
        try ValueScanner.scan(encoded) { scanner in
            var n: Int32 = 0
            while !scanner.atEnd {
                guard lua_checkstack(L, 3) != 0 else { return raise(L, "reply too large") }
                try LuaValues.push(L, &scanner)
                n += 1
            }
            return n
        }
    }

    static func pushAll(_ L: OpaquePointer, _ values: [Value]) -> Int32 {
        guard lua_checkstack(L, Int32(values.count) + 2) != 0 else { return raise(L, "reply too large") }
        for v in values { LuaValues.push(L, v) }
        return Int32(values.count)
    }

    static func describe(_ error: Error) -> String {
        if let u = error as? UnsendableValue { return "nsebox: cannot send \(u.what) to the broker" }
        return "nsebox: connection to the broker lost (\(error))"
    }

    static let request: nse_swift_function = { L in
        let L = L!
        do {
            let (op, values) = try opAndValues(L)
            lua_pushinteger(L, lua_Integer(try rpcClient.request(op, values)))
            return 1
        } catch { return raise(L, describe(error)) }
    }

    static let notify: nse_swift_function = { L in
        let L = L!
        do {
            let (op, values) = try opAndValues(L)
            try rpcClient.notify(op, values)
            return 0
        } catch { return raise(L, describe(error)) }
    }

    static let call: nse_swift_function = { L in
        let L = L!
        do {
            let (op, values) = try opAndValues(L)
            return try replyTemplates.push(L, op, rpcClient.callRaw(op, values).values)
        } catch { return raise(L, describe(error)) }
    }

    /// Blocks for the next reply: returns its request id, then its values.
    static let wait: nse_swift_function = { L in
        let L = L!
        do {
            switch try rpcClient.nextReply() {
            case .decoded(let frame):
                guard frame.isReply else { return raise(L, "nsebox: unexpected message from the broker") }
                lua_pushinteger(L, lua_Integer(frame.requestID))
                return 1 + pushAll(L, frame.values)
            case .raw(let frame):
                guard frame.isReply else { return raise(L, "nsebox: unexpected message from the broker") }
                lua_pushinteger(L, lua_Integer(frame.requestID))
                return try 1 + pushAll(L, frame.values)
            }
        } catch { return raise(L, describe(error)) }
    }

    /// Wall-clock seconds as a float, as nmap.clock gives them.
    static let clock: nse_swift_function = { L in
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        lua_pushnumber(L!, Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9)
        return 1
    }

    static let randomBytes: nse_swift_function = { L in
        let L = L!
        var isNum: Int32 = 0
        let n = Int(nse_tointegerx(L, 1, &isNum))
        guard isNum != 0, n >= 0, n <= 1 << 20 else { return raise(L, "random_bytes: bad count") }
        var buf = [UInt8](repeating: 0, count: n)
        // The instance's seeded stream (CNSEModules/random.c), as openssl.rand_bytes.
        if n > 0, buf.withUnsafeMutableBytes({ nse_random_fill($0.baseAddress!, n) }) != 0 {
            return raise(L, "random_bytes: no random bytes")
        }
        LuaValues.push(L, .bytes(buf))
        return 1
    }
}
