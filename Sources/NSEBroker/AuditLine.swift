import COpenSSL

/// The bytes of one audit line as it is built: memory this value owns (freed with
/// it), grown when a write needs more, and written through a pointer. A record is
/// made for every send and receive on the broker's one thread, which every
/// instance waits on: building it in an Array paid a uniqueness check, a bounds
/// check and often a retain per piece, more than the line's SHA-256 cost
/// (docs/performance.md).
struct AuditLine: ~Copyable {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        base = .allocate(capacity: capacity)
        self.capacity = capacity
    }

    deinit { base.deallocate() }

    /// The line so far (valid until the next write).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func removeAll() { count = 0 }

    /// Room for `extra` more bytes after `count`.
    @inline(__always)
    mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private mutating func grow(to needed: Int) {
        let size = max(needed, capacity * 2)
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        bigger.initialize(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = size
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    mutating func append(_ raw: UnsafeRawBufferPointer) {
        guard let from = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        UnsafeMutableRawPointer(base + count).copyMemory(from: from, byteCount: raw.count)
        count += raw.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// `v` in decimal.
    mutating func decimal(_ v: UInt64) {
        reserve(20)
        var digits = 1, rest = v / 10
        while rest > 0 { digits += 1; rest /= 10 }
        var v = v
        for i in stride(from: count + digits - 1, through: count, by: -1) {
            base[i] = UInt8(48 + v % 10)
            v /= 10
        }
        count += digits
    }

    /// `v` in decimal, at least `width` digits (zeros in front).
    mutating func digits(_ v: Int, width: Int) {
        reserve(width)
        var v = v
        for i in stride(from: count + width - 1, through: count, by: -1) {
            base[i] = UInt8(48 + v % 10)
            v /= 10
        }
        count += width
    }

    /// `s` as a JSON string: printable ASCII as it is, but for `"` and `\\`;
    /// every other character escaped (`\\n`, `\\uXXXX`, a surrogate pair above
    /// the BMP), so a line never holds a raw control or non-ASCII byte.
    mutating func quote(_ s: String) {
        // Names, events and most values need no escape: copied in one go.
        var text = s
        let copied = text.withUTF8 { p -> Bool in
            for b in p where b < 0x20 || b >= 0x7f || b == Self.quoteMark || b == Self.backslash { return false }
            reserve(p.count + 2)
            base[count] = Self.quoteMark
            UnsafeMutableRawPointer(base + count + 1).copyMemory(from: p.baseAddress!, byteCount: p.count)
            base[count + 1 + p.count] = Self.quoteMark
            count += p.count + 2
            return true
        }
        if !copied { escaped(s) }
    }

    private static let quoteMark = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    /// Lower-case hex digits, by value (here and for the chain's SHA-256).
    static let hexDigits: StaticString = "0123456789abcdef"

    private mutating func escaped(_ s: String) {
        append(Self.quoteMark)
        for u in s.unicodeScalars {
            switch u {
            case "\"": append(Self.backslash); append(Self.quoteMark)
            case "\\": append(Self.backslash); append(Self.backslash)
            case "\n": append(Self.backslash); append(UInt8(ascii: "n"))
            case "\r": append(Self.backslash); append(UInt8(ascii: "r"))
            case "\t": append(Self.backslash); append(UInt8(ascii: "t"))
            case " "..."~": append(UInt8(u.value))
            default:
                for unit in String(u).utf16 {
                    append(Self.backslash); append(UInt8(ascii: "u"))
                    for shift in [12, 8, 4, 0] { append(Self.hexDigits.utf8Start[Int(unit >> UInt16(shift) & 15)]) }
                }
            }
        }
        append(Self.quoteMark)
    }

    /// `bytes` in base64 (libcrypto's EVP_EncodeBlock: no line breaks).
    mutating func base64(_ bytes: ArraySlice<UInt8>) {
        // One byte more: EVP_EncodeBlock ends what it writes with a NUL.
        reserve((bytes.count + 2) / 3 * 4 + 1)
        bytes.withUnsafeBufferPointer { p in
            var at = 0
            // In pieces, as EVP_EncodeBlock counts in an Int32.
            while at < p.count {
                let n = min(p.count - at, 3 << 20)
                count += Int(EVP_EncodeBlock(base + count, p.baseAddress! + at, Int32(n)))
                at += n
            }
        }
    }
}
