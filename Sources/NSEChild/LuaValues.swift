import CLua
import NSEWire

/// Converting between Lua values on the stack and wire `Value`s. None of these
/// functions raise Lua errors: a value that cannot be sent is reported by throwing
/// a Swift error, which the caller turns into a Lua error through the trampoline.
struct UnsendableValue: Error { var what: String }

enum LuaValues {
    /// Reads the value at `index` (absolute) into a `Value`. Tables are walked with
    /// `next` (raw); nested depth and cycles are limited.
    static func read(_ L: OpaquePointer, _ index: Int32, depth: Int = 0) throws -> Value {
        switch lua_type(L, index) {
        case LUA_TNIL, LUA_TNONE: return .none
        case LUA_TBOOLEAN: return .bool(lua_toboolean(L, index) != 0)
        case LUA_TNUMBER:
            if nse_isinteger(L, index) != 0 { return .int(nse_tointegerx(L, index, nil)) }
            return .double(nse_tonumberx(L, index, nil))
        case LUA_TSTRING:
            var len = 0
            let p = nse_tolstring(L, index, &len)!
            return .bytes(Array(UnsafeRawBufferPointer(start: p, count: len)))
        case LUA_TTABLE:
            guard depth < WireLimits.maxDepth else { throw UnsendableValue(what: "a table nested too deep (or a cycle)") }
            guard lua_checkstack(L, 4) != 0 else { throw UnsendableValue(what: "a table (Lua stack full)") }
            var entries: [TableEntry] = []
            lua_pushnil(L)
            while lua_next(L, index) != 0 {
                let top = lua_gettop(L)
                do {
                    let k = try read(L, top - 1, depth: depth + 1)
                    let v = try read(L, top, depth: depth + 1)
                    entries.append(TableEntry(k, v))
                } catch {
                    nse_pop(L, 2)
                    throw error
                }
                nse_pop(L, 1)
            }
            return .table(entries)
        default:
            throw UnsendableValue(what: "a \(String(cString: lua_typename(L, lua_type(L, index))))")
        }
    }

    /// Pushes a `Value` onto the stack, by its encoding: one way, the one a
    /// reply takes, for what a wire value becomes in Lua. (A value within the
    /// wire's limits, as every value here is, always scans; one that did not
    /// would push nil.)
    static func push(_ L: OpaquePointer, _ v: Value) {
        var bytes: [UInt8] = []
        v.encode(into: &bytes)
        let top = lua_gettop(L)
        do { try ValueScanner.scan(bytes[...]) { try push(L, &$0) } } catch {
            lua_settop(L, top)
            lua_pushnil(L)
        }
    }

    /// Pushes the next encoded value straight from the frame's bytes (`RawFrame`),
    /// with no `Value` in between.
    static func push(_ L: OpaquePointer, _ scanner: inout ValueScanner, depth: Int = 0) throws {
        guard depth <= WireLimits.maxDepth else { throw WireError(.tooDeep) }
        let item = try scanner.next()
        guard case .table(let count) = item else { return pushScalar(L, item) }
        lua_checkstack(L, 3)
        lua_createtable(L, 0, tableSize(count))
        for _ in 0..<count {
            try push(L, &scanner, depth: depth + 1)
            try push(L, &scanner, depth: depth + 1)
            if keyIsUnusable(L) { nse_pop(L, 2) } else { lua_rawset(L, -3) }
        }
    }

    /// Pushes an item that is not a table (a table's item pushes nothing).
    static func pushScalar(_ L: OpaquePointer, _ item: ValueScanner.Item) {
        switch item {
        case .none: lua_pushnil(L)
        case .bool(let b): lua_pushboolean(L, b ? 1 : 0)
        case .int(let i): lua_pushinteger(L, i)
        case .double(let d): lua_pushnumber(L, d)
        case .bytes(let b):
            _ = lua_pushlstring(L, b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count)
        case .table: break
        }
    }

    /// The size a table of `count` entries is created with.
    static func tableSize(_ count: Int) -> Int32 { Int32(min(count, 1 << 16)) }

    /// Whether the key under the top value is nil or NaN, which cannot be table
    /// keys (lua_rawset would raise an error): such an entry is left out.
    static func keyIsUnusable(_ L: OpaquePointer) -> Bool {
        lua_type(L, -2) == LUA_TNIL
            || (lua_type(L, -2) == LUA_TNUMBER && nse_isinteger(L, -2) == 0 && nse_tonumberx(L, -2, nil).isNaN)
    }

    static func pushString(_ L: OpaquePointer, _ s: String) {
        var s = s
        s.withUTF8 { p in
            _ = lua_pushlstring(L, p.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, p.count)
        }
    }
}
