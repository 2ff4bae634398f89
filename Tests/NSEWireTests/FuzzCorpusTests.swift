import Foundation
import Testing
@testable import NSEWire

// The committed seed corpus (fuzz-seeds.txt: one frame in hex per line) and the
// long fuzzing run over it: 10^6 inputs, each a seed mutated (bytes flipped,
// inserted, removed, the length prefix changed, two seeds spliced) or a fresh
// random input, fed to the decoder in two pieces. Nothing may crash or hang, every
// error must be a WireError, and what decodes must re-encode to the same bytes.

/// A frame of every op with arguments of its schema's kinds, plus a few replies.
func seedFrames() -> [Frame] {
    func sample(_ kind: ArgumentKind, _ i: Int) -> Value {
        switch kind {
        case .int: return .int(Int64(i * 7))
        case .string: return .string("seed-\(i)")
        case .table: return .record([("k", .int(1)), ("nested", .array([.string("a"), .double(1.5), .bool(true)]))])
        case .tableOrNil: return .none
        case .any: return .bool(true)
        }
    }
    var frames = Op.allCases.enumerated().map { i, op in
        Frame(op, requestID: UInt32(i), op.arguments.enumerated().map { sample($0.element, $0.offset) })
    }
    frames.append(Frame.reply(to: .connect, requestID: 9, [.bool(true)]))
    frames.append(Frame.reply(to: .receive, requestID: 10, [.bool(true), .bytes(Array(repeating: 0x41, count: 40))]))
    return frames
}

func seedFile(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("fuzz-seeds.txt")
}

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func unhex(_ line: Substring) -> [UInt8] {
    var out: [UInt8] = []
    var i = line.startIndex
    while i < line.endIndex, let j = line.index(i, offsetBy: 2, limitedBy: line.endIndex), let b = UInt8(line[i..<j], radix: 16) {
        out.append(b)
        i = j
    }
    return out
}

/// The committed corpus is what the codec encodes today (NSEBOX_WRITE_SEEDS=1
/// rewrites it after a deliberate format change).
@Test func seedCorpusMatchesTheCodec() throws {
    let text = seedFrames().map { hex($0.encoded()) }.joined(separator: "\n") + "\n"
    if ProcessInfo.processInfo.environment["NSEBOX_WRITE_SEEDS"] == "1" {
        try text.write(to: seedFile(), atomically: true, encoding: .utf8)
    }
    let committed = try String(contentsOf: seedFile(), encoding: .utf8)
    #expect(committed == text, "Tests/NSEWireTests/fuzz-seeds.txt is stale: run with NSEBOX_WRITE_SEEDS=1")
    for line in committed.split(separator: "\n") {
        var d = FrameDecoder()
        d.feed(unhex(line)[...])
        #expect(try d.next() != nil, "seed \(line.prefix(16))… does not decode")
    }
}

func mutate(_ seeds: [[UInt8]], _ rng: inout SplitMix64) -> [UInt8] {
    if Int.random(in: 0..<8, using: &rng) == 0 { return fuzzInput(&rng) }
    var b = seeds.randomElement(using: &rng)!
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
        case 1: b.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...b.count, using: &rng))
        case 2 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
        case 3 where b.count >= 4:  // the length prefix
            b[Int.random(in: 0..<4, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 4: b += seeds.randomElement(using: &rng)!.suffix(Int.random(in: 0...16, using: &rng))
        default: if !b.isEmpty { b.removeLast(Int.random(in: 0...min(8, b.count), using: &rng)) }
        }
    }
    return b
}

@Test func aMillionMutatedInputsNeverCrashTheDecoder() throws {
    let seeds = try String(contentsOf: seedFile(), encoding: .utf8).split(separator: "\n").map(unhex)
    try #require(seeds.count == seedFrames().count)
    var rng = SplitMix64(seed: 0x6E73_6562_6F78_3130)
    var decoded = 0, errors = 0
    var codes: Set<WireError.Code> = []
    for _ in 0..<1_000_000 {
        let input = mutate(seeds, &rng)
        var decoder = FrameDecoder()
        let split = Int.random(in: 0...input.count, using: &rng)
        var produced: [Frame] = []
        do {
            decoder.feed(input[..<split])
            while let f = try decoder.next() { produced.append(f) }
            decoder.feed(input[split...])
            while let f = try decoder.next() { produced.append(f) }
            let consumed = input.count - decoder.bufferedCount
            if produced.flatMap({ $0.encoded() }) != Array(input[..<consumed]) {
                Issue.record("re-encoding differs for \(hex(input))")
                break
            }
            for f in produced { _ = try? f.validateArguments() }
            decoded += produced.count
        } catch let e as WireError {
            errors += 1
            codes.insert(e.code)
        }
    }
    #expect(decoded > 100_000 && errors > 100_000, "decoded \(decoded), errors \(errors)")
    #expect(codes.isSuperset(of: [.frameTooLarge, .frameTooSmall, .unknownOperation, .badValueTag, .truncatedValue]))
}
