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
    mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(v >> 24)); append(UInt8((v >> 16) & 0xff))
        append(UInt8((v >> 8) & 0xff)); append(UInt8(v & 0xff))
    }
    mutating func appendBigEndian(_ v: UInt64) {
        appendBigEndian(UInt32(v >> 32)); appendBigEndian(UInt32(v & 0xffff_ffff))
    }
}

/// Reads values from a byte slice, checking every length against what is left
/// before allocating anything.
struct ValueReader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes; self.position = bytes.startIndex }

    var atEnd: Bool { position >= bytes.endIndex }
    var remaining: Int { bytes.endIndex - position }

    mutating func u8() throws -> UInt8 {
        guard remaining >= 1 else { throw WireError(.truncatedValue) }
        defer { position += 1 }
        return bytes[position]
    }
    mutating func u32() throws -> UInt32 {
        guard remaining >= 4 else { throw WireError(.truncatedValue) }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[position + i]) }
        position += 4
        return v
    }
    mutating func u64() throws -> UInt64 {
        let hi = try u32(), lo = try u32()
        return UInt64(hi) << 32 | UInt64(lo)
    }

    mutating func value(depth: Int = 0) throws -> Value {
        guard depth <= WireLimits.maxDepth else { throw WireError(.tooDeep) }
        let raw = try u8()
        guard let tag = ValueTag(rawValue: raw) else { throw WireError(.badValueTag, "\(raw)") }
        switch tag {
        case .none: return .none
        case .falseValue: return .bool(false)
        case .trueValue: return .bool(true)
        case .int: return .int(Int64(bitPattern: try u64()))
        case .double: return .double(Double(bitPattern: try u64()))
        case .bytes:
            let n = Int(try u32())
            guard n <= remaining else { throw WireError(.truncatedValue, "string of \(n) bytes") }
            defer { position += n }
            return .bytes(Array(bytes[position..<position + n]))
        case .table:
            let n = Int(try u32())
            // Each entry takes at least two bytes: reject impossible counts before reserving.
            guard n <= WireLimits.maxTableEntries else { throw WireError(.tooManyEntries) }
            guard n * 2 <= remaining else { throw WireError(.truncatedValue, "table of \(n) entries") }
            var entries: [TableEntry] = []
            entries.reserveCapacity(n)
            for _ in 0..<n {
                let k = try value(depth: depth + 1)
                let v = try value(depth: depth + 1)
                entries.append(TableEntry(k, v))
            }
            return .table(entries)
        }
    }
}
