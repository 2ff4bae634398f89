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
        case .int(let i): out.appendTagged(ValueTag.int.rawValue, UInt64(bitPattern: i))
        case .double(let d): out.appendTagged(ValueTag.double.rawValue, d.bitPattern)
        case .bytes(let b):
            out.appendTagged(ValueTag.bytes.rawValue, UInt32(b.count))
            out.append(contentsOf: b)
        case .table(let entries):
            out.appendTagged(ValueTag.table.rawValue, UInt32(entries.count))
            for e in entries {
                e.key.encode(into: &out)
                e.value.encode(into: &out)
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends `count` bytes (at most 16) that `write` stores into a scratch
    /// buffer on the stack, in one append: appending a byte at a time checks
    /// the array's uniqueness and capacity for each byte, and took twice as long
    /// for a reply's head and integer (by hand, swiftc -O).
    @inline(__always)
    private mutating func appendScratch(_ count: Int, _ write: (UnsafeMutableRawBufferPointer) -> Void) {
        var scratch: (UInt64, UInt64) = (0, 0)
        Swift.withUnsafeMutableBytes(of: &scratch) { p in
            write(p)
            append(contentsOf: UnsafeBufferPointer(start: p.baseAddress!.assumingMemoryBound(to: UInt8.self), count: count))
        }
    }

    /// A tag byte, then `v` big-endian.
    mutating func appendTagged(_ tag: UInt8, _ v: UInt64) {
        appendScratch(9) { p in
            p[0] = tag
            p.storeBytes(of: v.bigEndian, toByteOffset: 1, as: UInt64.self)
        }
    }
    mutating func appendTagged(_ tag: UInt8, _ v: UInt32) {
        appendScratch(5) { p in
            p[0] = tag
            p.storeBytes(of: v.bigEndian, toByteOffset: 1, as: UInt32.self)
        }
    }

    /// A frame's head: its length (0, for `patchLength` to write once the body
    /// is appended), op and request id. Returns where the frame starts.
    mutating func appendFrameHead(op: UInt8, requestID: UInt32, length: UInt32 = 0) -> Int {
        let at = count
        appendScratch(9) { p in
            p.storeBytes(of: length.bigEndian, toByteOffset: 0, as: UInt32.self)
            p[4] = op
            p.storeBytes(of: requestID.bigEndian, toByteOffset: 5, as: UInt32.self)
        }
        return at
    }

    /// Writes the length of the frame that starts at `at` into its prefix.
    mutating func patchLength(at: Int) {
        let length = UInt32(count - at - 4).bigEndian
        withUnsafeMutableBytes { $0.storeBytes(of: length, toByteOffset: at, as: UInt32.self) }
    }
}
