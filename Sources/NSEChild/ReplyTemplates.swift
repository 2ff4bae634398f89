import CLua
import Glibc
import NSEWire

/// Replies that repeat, pushed as copies of Lua values built once.
///
/// A table in a reply is built into Lua from its bytes: every string interned
/// and every field set, which costs several times what the same table written
/// as a Lua constructor does. A script that asks the same thing again (a port's
/// table, the host's ports, an unchanged registry value) gets the same bytes
/// again. The second time, the reply's values are also kept as a template in
/// the registry; from then on, each reply with those bytes is pushed as a copy
/// of the template: the same keys and values set in the same order into tables
/// of the same size, so that a copy cannot be told from a table built from the
/// bytes (`pairs` walks it in the same order), and it is the script's own to
/// change. Only replies with a table at their top level are kept, one per op: a
/// reply that differs from the last of its op takes its place.
///
/// A template is a sequence: a table's is its size hint, its number of pairs,
/// then each key and value (a table among them is a template too; a nil value is
/// a hole); a reply's is its value count, then its values.
struct ReplyTemplates {
    private struct Entry {
        var bytes: [UInt8]
        /// The template's registry reference, or LUA_NOREF before the bytes repeat.
        var template: Int32
    }
    /// One per op number; made at the first reply, when the registry is first seen.
    private var entries: [Entry?] = []
    /// The registry the references are in: a new Lua state starts afresh.
    private var registry: UnsafeRawPointer?
    /// Larger replies are not kept: comparing and copying their bytes each time
    /// would cost more than they are likely to save.
    static let maxBytes = 2048

    /// Pushes the values of an `op` reply (encoded); returns how many.
    mutating func push(_ L: OpaquePointer, _ op: Op, _ encoded: ArraySlice<UInt8>) throws -> Int32 {
        let here = lua_topointer(L, nse_registryindex())
        if here != registry { entries = [Entry?](repeating: nil, count: 128); registry = here }  // op numbers are 7 bits
        let i = Int(op.rawValue)
        guard encoded.count <= ReplyTemplates.maxBytes else { return try Primitives.pushAll(L, encoded) }
        if let entry = entries[i], sameBytes(entry.bytes, encoded) {
            if entry.template != LUA_NOREF { return ReplyTemplates.pushCopy(L, of: entry.template) }
            let n = try Primitives.pushAll(L, encoded)
            if n >= 0 { entries[i]!.template = try ReplyTemplates.makeTemplate(L, encoded) }
            return n
        }
        let n = try Primitives.pushAll(L, encoded)
        guard n > 0 else { return n }
        if let old = entries[i]?.template, old != LUA_NOREF { luaL_unref(L, nse_registryindex(), old) }
        let top = lua_gettop(L)
        let hasTable = (top - n + 1...top).contains { lua_type(L, $0) == LUA_TTABLE }
        if hasTable { entries[i] = Entry(bytes: Array(encoded), template: LUA_NOREF) } else if entries[i] != nil { entries[i] = nil }
        return n
    }

    /// Builds the template of a reply's values from its bytes; returns its reference.
    static func makeTemplate(_ L: OpaquePointer, _ encoded: ArraySlice<UInt8>) throws -> Int32 {
        let top = lua_gettop(L)
        do {
            try ValueScanner.scan(encoded) { scanner in
                guard lua_checkstack(L, 4) != 0 else { throw WireError(.tooDeep) }
                lua_createtable(L, 8, 0)
                var count: lua_Integer = 0
                while !scanner.atEnd {
                    try pushTemplate(L, &scanner)
                    count += 1
                    lua_rawseti(L, -2, count + 1)
                }
                lua_pushinteger(L, count)
                lua_rawseti(L, -2, 1)
            }
        } catch {
            lua_settop(L, top)
            throw error
        }
        return luaL_ref(L, nse_registryindex())
    }

    /// Pushes the template of the next encoded value: what `LuaValues.push`
    /// would push, with each table as its template.
    private static func pushTemplate(_ L: OpaquePointer, _ scanner: inout ValueScanner, depth: Int = 0) throws {
        guard depth <= WireLimits.maxDepth else { throw WireError(.tooDeep) }
        let item = try scanner.next()
        guard case .table(let count) = item else { return LuaValues.pushScalar(L, item) }
        guard lua_checkstack(L, 4) != 0 else { throw WireError(.tooDeep) }
        lua_createtable(L, Int32(min(2 * count + 2, 1 << 16)), 0)
        var pairs: lua_Integer = 0
        for _ in 0..<count {
            try pushTemplate(L, &scanner, depth: depth + 1)
            try pushTemplate(L, &scanner, depth: depth + 1)
            // The entries `LuaValues.push` leaves out, left out here too.
            if LuaValues.keyIsUnusable(L) { nse_pop(L, 2); continue }
            pairs += 1
            lua_rawseti(L, -3, 2 * pairs + 2)
            lua_rawseti(L, -2, 2 * pairs + 1)
        }
        lua_pushinteger(L, lua_Integer(LuaValues.tableSize(count)))
        lua_rawseti(L, -2, 1)
        lua_pushinteger(L, pairs)
        lua_rawseti(L, -2, 2)
    }

    /// Pushes a copy of each value of the template `ref`; returns how many.
    static func pushCopy(_ L: OpaquePointer, of ref: Int32) -> Int32 {
        guard lua_checkstack(L, 4) != 0 else { return Primitives.raise(L, "reply too large") }
        _ = lua_rawgeti(L, nse_registryindex(), lua_Integer(ref))
        let template = lua_gettop(L)
        _ = lua_rawgeti(L, template, 1)
        let count = Int32(nse_tointegerx(L, -1, nil))
        nse_pop(L, 1)
        guard lua_checkstack(L, count + 4) != 0 else { nse_pop(L, 1); return Primitives.raise(L, "reply too large") }
        for i in 0..<count {
            _ = lua_rawgeti(L, template, lua_Integer(i) + 2)
            copyTop(L)
        }
        nse_remove(L, template)
        return count
    }

    /// Replaces the template on top of the stack with its copy (a value that is
    /// not a table is its own copy).
    private static func copyTop(_ L: OpaquePointer) {
        guard lua_type(L, -1) == LUA_TTABLE else { return }
        let template = lua_gettop(L)
        _ = lua_rawgeti(L, template, 1)
        _ = lua_rawgeti(L, template, 2)
        let size = Int32(nse_tointegerx(L, -2, nil)), pairs = nse_tointegerx(L, -1, nil)
        nse_pop(L, 2)
        lua_checkstack(L, 4)
        lua_createtable(L, 0, size)
        var slot: lua_Integer = 3
        for _ in 0..<pairs {
            _ = lua_rawgeti(L, template, slot)
            copyTop(L)
            _ = lua_rawgeti(L, template, slot + 1)
            copyTop(L)
            lua_rawset(L, -3)
            slot += 2
        }
        nse_remove(L, template)
    }
}
