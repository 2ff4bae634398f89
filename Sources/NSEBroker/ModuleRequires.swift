/// The nselib modules scripts need, read from their sources: every `require "x"`,
/// `require("x")` or `silent_require "x"`, and those of the modules named, through
/// to the last. A reading, not a proof: it decides only what the zygote loads in
/// advance; a module it misses is loaded by the instance that requires it.
enum ModuleRequires {
    static func names(in source: [UInt8]) -> [String] {
        let word = Array("require".utf8)
        var found: [String] = []
        var i = 0
        while i + word.count < source.count {
            guard source[i] == word[0], source[i..<(i + word.count)].elementsEqual(word) else { i += 1; continue }
            var j = i + word.count
            while j < source.count, source[j] == 0x20 || source[j] == 0x09 || source[j] == 0x28 { j += 1 } // spaces, "("
            i = j
            guard j < source.count, source[j] == 0x22 || source[j] == 0x27 else { continue }
            let quote = source[j]
            var k = j + 1
            while k < source.count, isNameByte(source[k]) { k += 1 }
            if k < source.count, source[k] == quote, k > j + 1 {
                found.append(String(decoding: source[(j + 1)..<k], as: UTF8.self))
            }
            i = k
        }
        return found
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
