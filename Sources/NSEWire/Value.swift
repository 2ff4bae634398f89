/// A Lua value as it crosses the RPC: what a script can send to the broker and get back.
///
/// Strings are bytes (Lua strings are), tables are ordered key/value lists so that a
/// table keeps the order the sender walked it in. Functions, threads and userdata have
/// no wire form: the child refuses to send them.
public enum Value: Equatable, Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case bytes([UInt8])
    case table([TableEntry])

    /// A string value from Swift text.
    public static func string(_ s: String) -> Value { .bytes(Array(s.utf8)) }

    /// The value's text when it is a string, decoded as UTF-8 with repair.
    public var text: String? {
        if case .bytes(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    public var isNone: Bool { if case .none = self { return true } else { return false } }

    /// Looks up a string key in a table value (first match).
    public subscript(key: String) -> Value {
        guard case .table(let entries) = self else { return .none }
        let k = Value.string(key)
        return entries.first(where: { $0.key == k })?.value ?? .none
    }

    /// The integer-keyed entries 1...n of a table, in order, as Lua's ipairs sees them.
    public var arrayPart: [Value] {
        guard case .table(let entries) = self else { return [] }
        var byIndex: [Int64: Value] = [:]
        for e in entries { if case .int(let i) = e.key { byIndex[i] = e.value } }
        var out: [Value] = []
        var i: Int64 = 1
        while let v = byIndex[i], !v.isNone { out.append(v); i += 1 }
        return out
    }
}

/// One key/value pair of a table value.
public struct TableEntry: Equatable, Sendable {
    public var key: Value
    public var value: Value
    public init(_ key: Value, _ value: Value) { self.key = key; self.value = value }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral s: String) { self = .string(s) }
    public init(integerLiteral i: Int64) { self = .int(i) }
    public init(booleanLiteral b: Bool) { self = .bool(b) }
}

extension Value {
    /// A table from string keys, in the order given.
    public static func record(_ pairs: KeyValuePairs<String, Value>) -> Value {
        .table(pairs.map { TableEntry(.string($0.key), $0.value) })
    }
    /// A table from string keys, in the order given.
    public static func record(_ pairs: [(String, Value)]) -> Value {
        .table(pairs.map { TableEntry(.string($0.0), $0.1) })
    }
    /// A Lua sequence 1...n.
    public static func array(_ items: [Value]) -> Value {
        .table(items.enumerated().map { TableEntry(.int(Int64($0.offset + 1)), $0.element) })
    }
}
