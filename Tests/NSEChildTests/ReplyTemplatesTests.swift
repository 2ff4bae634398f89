import CLua
import NSEWire
import Testing
@testable import NSEChild

/// A Lua value as text, tables walked with `next` in their own order, numbers
/// with their subtype: two values print the same only if a script could not
/// tell them apart (but for which tables they are). A table used as a key is
/// placed by its address, so where one is, `sorted` puts the fields in order.
private func describe(_ L: OpaquePointer, _ index: Int32, sorted: Bool = false) -> String {
    let i = lua_absindex(L, index)
    switch lua_type(L, i) {
    case LUA_TNIL: return "nil"
    case LUA_TBOOLEAN: return lua_toboolean(L, i) != 0 ? "true" : "false"
    case LUA_TNUMBER: return nse_isinteger(L, i) != 0 ? "i\(nse_tointegerx(L, i, nil))" : "f\(nse_tonumberx(L, i, nil))"
    case LUA_TSTRING:
        var n = 0
        let p = nse_tolstring(L, i, &n)!
        return "'" + String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self) + "'"
    case LUA_TTABLE:
        var parts: [String] = []
        lua_pushnil(L)
        while lua_next(L, i) != 0 {
            parts.append(describe(L, -2, sorted: sorted) + "=" + describe(L, -1, sorted: sorted))
            nse_pop(L, 1)
        }
        return "{" + (sorted ? parts.sorted() : parts).joined(separator: ",") + "}"
    default: return "?"
    }
}

private func encoded(_ values: [Value]) -> [UInt8] {
    var out: [UInt8] = []
    for v in values { v.encode(into: &out) }
    return out
}

/// Pushes with `push`, returns each value's text and the pushed tables' addresses, and empties the stack.
private func pushed(_ L: OpaquePointer, _ push: () throws -> Int32) throws -> (String, [UnsafeRawPointer?]) {
    let n = try push()
    let texts = (0..<n).map { describe(L, -n + $0) }
    let tables = (0..<n).filter { lua_type(L, -n + $0) == LUA_TTABLE }.map { lua_topointer(L, -n + $0) }
    lua_settop(L, 0)
    return (texts.joined(separator: " | "), tables)
}

private let portTable: [Value] = [.record([
    "number": 80, "protocol": "tcp", "state": "open", "reason": "syn-ack", "reason_ttl": 0, "service": "http",
    "version": .record([("name", "http"), ("name_confidence", .double(3)), ("service_tunnel", "none"), ("cpe", .array(["cpe:/a:x"]))]),
])]

/// Tables with the keys a push leaves out (nil, NaN), keys set twice, set to
/// nil, given as floats, and values that are not tables beside them.
private let awkward: [Value] = [
    .table([
        TableEntry("a", 1), TableEntry(.none, "dropped"), TableEntry(.double(.nan), "dropped"),
        TableEntry(.double(2), "two"), TableEntry(.int(3), .double(-0.0)), TableEntry("gone", .none),
        TableEntry("a", .none), TableEntry("b", .table([TableEntry("deep", .array([1, 2, .record(["x": true])]))])),
        TableEntry("a", "again"),
    ]),
    .none, 5, "text", .table([]),
]

@Suite("Reply templates")
struct ReplyTemplatesTests {
    /// The same reply pushed again and again: the first two built from the
    /// bytes, the rest copied from the template. Each must print as the bytes'
    /// own push does (pairs order included) and be a new table, whatever the
    /// script did to the one before.
    @Test(arguments: [portTable, awkward, (1...40).map { Value.int(Int64($0)) } + [.array((1...40).map { .int(Int64($0)) })]])
    func copiesCannotBeToldFromTablesBuiltFromTheBytes(values: [Value]) throws {
        let L = luaL_newstate()!
        defer { lua_close(L) }
        lua_checkstack(L, 100)
        let bytes = encoded(values)
        let (reference, _) = try pushed(L) { try Primitives.pushAll(L, bytes[...]) }
        var templates = ReplyTemplates()
        var seen: [UnsafeRawPointer?] = []
        for _ in 1...5 {
            let n = try templates.push(L, .getPortState, bytes[...])
            #expect(n == Int32(values.count))
            #expect((0..<n).map { describe(L, -n + $0) }.joined(separator: " | ") == reference)
            for i in 0..<n where lua_type(L, -n + i) == LUA_TTABLE {
                seen.append(lua_topointer(L, -n + i))
                // The script changes its answer; the next answer must not show it.
                lua_pushboolean(L, 1)
                lua_setfield(L, -n + i - 1, "changed")
            }
            lua_settop(L, 0)
        }
        #expect(Set(seen.map { $0.map { UInt(bitPattern: $0) } ?? 0 }).count == seen.count, "a table was handed out twice")
    }

    /// A table as a key is copied too (a new table each time, as from the bytes).
    @Test func tablesAsKeysAreCopied() throws {
        let L = luaL_newstate()!
        defer { lua_close(L) }
        let bytes = encoded([.table([TableEntry(.record(["key": "table"]), "as key"), TableEntry("b", .array([1, 2]))])])
        let reference = (try Primitives.pushAll(L, bytes[...]), describe(L, -1, sorted: true)).1
        lua_settop(L, 0)
        var templates = ReplyTemplates()
        var keys: Set<UInt> = []
        for _ in 1...5 {
            #expect(try templates.push(L, .getPortState, bytes[...]) == 1)
            #expect(describe(L, -1, sorted: true) == reference)
            lua_pushnil(L)
            while lua_next(L, 1) != 0 {
                if lua_type(L, -2) == LUA_TTABLE { keys.insert(UInt(bitPattern: lua_topointer(L, -2))) }
                nse_pop(L, 1)
            }
            lua_settop(L, 0)
        }
        #expect(keys.count == 5, "a key table was handed out twice")
    }

    /// A different reply takes the op's place, and the first, when it comes
    /// back, is built again, not confused with the other's template.
    @Test func aDifferentReplyReplacesTheTemplate() throws {
        let L = luaL_newstate()!
        defer { lua_close(L) }
        let a = encoded(portTable), b = encoded(awkward)
        let (textA, _) = try pushed(L) { try Primitives.pushAll(L, a[...]) }
        let (textB, _) = try pushed(L) { try Primitives.pushAll(L, b[...]) }
        var templates = ReplyTemplates()
        for (bytes, text) in [(a, textA), (a, textA), (a, textA), (b, textB), (b, textB), (b, textB), (a, textA), (a, textA), (a, textA)] {
            #expect(try pushed(L) { try templates.push(L, .getPortState, bytes[...]) }.0 == text)
        }
    }

    /// Templates belong to one Lua state: in another, the same reply is built
    /// from its bytes (another state's registry reference would name another value).
    @Test func anotherLuaStateStartsAfresh() throws {
        let first = luaL_newstate()!, second = luaL_newstate()!
        defer { lua_close(first); lua_close(second) }
        let bytes = encoded(portTable)
        let (text, _) = try pushed(second) { try Primitives.pushAll(second, bytes[...]) }
        var templates = ReplyTemplates()
        for _ in 1...3 { _ = try pushed(first) { try templates.push(first, .getPortState, bytes[...]) } }
        // Fill the second state's registry where the first's template sits.
        for i in 1...8 { lua_pushinteger(second, lua_Integer(i)); _ = luaL_ref(second, nse_registryindex()) }
        #expect(try pushed(second) { try templates.push(second, .getPortState, bytes[...]) }.0 == text)
    }
}
