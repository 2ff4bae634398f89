/// The binary form of a `Value`: one tag byte, then the payload.
///
///     0 nil | 1 false | 2 true | 3 int: 8 bytes BE | 4 double: 8 bytes BE (IEEE 754)
///     5 string: u32 BE length + bytes | 6 table: u32 BE count + count x (key, value)
enum ValueTag: UInt8 {
    case none = 0, falseValue = 1, trueValue = 2, int = 3, double = 4, bytes = 5, table = 6
}

extension Value {
    /// Appends the encoding of `self` to `out`.
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .none: out.append(ValueTag.none.rawValue)
        case .bool(let b): out.append(b ? ValueTag.trueValue.rawValue : ValueTag.falseValue.rawValue)
        case .int(let i):
            out.append(ValueTag.int.rawValue)
            out.appendBigEndian(UInt64(bitPattern: i))
        case .double(let d):
            out.append(ValueTag.double.rawValue)
            out.appendBigEndian(d.bitPattern)
        case .bytes(let b):
            out.append(ValueTag.bytes.rawValue)
            out.appendBigEndian(UInt32(b.count))
            out.append(contentsOf: b)
        case .table(let entries):
            out.append(ValueTag.table.rawValue)
            out.appendBigEndian(UInt32(entries.count))
            for e in entries {
                e.key.encode(into: &out)
                e.value.encode(into: &out)
            }
        }
    }
}

extension Array where Element == UInt8 {
    // A byte at a time: one append(contentsOf:) of the four or eight bytes
    // was slower (a loop of each, compiled with swiftc -O; see 4edfd1c).
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8((v >> 16) & 0xff))
        append(UInt8((v >> 8) & 0xff)); append(UInt8(v & 0xff))
    }
    mutating func appendBigEndian(_ v: UInt64) {
        appendBigEndian(UInt32(v >> 32)); appendBigEndian(UInt32(v & 0xffff_ffff))
    }
}
