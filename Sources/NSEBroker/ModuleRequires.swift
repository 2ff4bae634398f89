import Glibc

/// The nselib modules scripts need, read from their sources: every `require "x"`,
/// `require("x")` or `silent_require "x"`, and those of the modules named, through
/// to the last. A reading, not a proof: it decides only what the zygote loads in
/// advance; a module it misses is loaded by the instance that requires it.
enum ModuleRequires {
    static func names(in source: [UInt8]) -> [String] {
        // A megabyte of nselib is read here at every scan's start, before the
        // zygote has its job: through the buffer, each "r" found with memchr.
        source.withUnsafeBufferPointer { buffer -> [String] in
            guard let base = buffer.baseAddress else { return [] }
            let count = buffer.count, word = "require"
            var found: [String] = []
            var i = 0
            while i + 7 < count {
                guard let hit = memchr(base + i, 0x72, count - i) else { break }  // "r"
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                guard i + 7 < count, memcmp(base + i, word, 7) == 0 else { i += 1; continue }
                var j = i + 7
                while j < count, base[j] == 0x20 || base[j] == 0x09 || base[j] == 0x28 { j += 1 } // spaces, "("
                i = j
                guard j < count, base[j] == 0x22 || base[j] == 0x27 else { continue }
                let quote = base[j]
                var k = j + 1
                while k < count, isNameByte(base[k]) { k += 1 }
                if k < count, base[k] == quote, k > j + 1 {
                    found.append(String(decoding: UnsafeBufferPointer(start: base + j + 1, count: k - j - 1), as: UTF8.self))
                }
                i = k
            }
            return found
        }
    }

    /// Everything `sources` require, directly or through nselib, in first-seen
    /// order; names nselib does not have (built-in modules) stay in the list.
    static func closure(of sources: [[UInt8]], files: DataFiles) -> [String] {
        var seen: Set<String> = []
        var order: [String] = []
        var pending = sources.flatMap(names(in:))
        while !pending.isEmpty {
            let name = pending.removeFirst()
            guard seen.insert(name).inserted else { continue }
            order.append(name)
            if let module = files.module(name) { pending += names(in: module.source) }
        }
        return order
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F || b == 0x2E || b == 0x2D  // _ . -  ("lpeg-utility")
    }
}
