@testable import NSEBroker
import Testing

/// The broker's job queue gives jobs back in the order they came, a job put back
/// in front first, through the cuts that drop the taken ones.
@Suite struct FIFOTests {
    @Test func itemsComeOutInOrderAndPrependedOnesFirst() {
        var q = FIFO<Int>()
        #expect(q.isEmpty && q.first == nil && q.removeFirst() == nil)
        for i in 1...5 { q.append(i) }
        q.prepend(0)
        #expect(q.count == 6 && q.first == 0)
        #expect((0..<6).map { _ in q.removeFirst() } == [0, 1, 2, 3, 4, 5])
        #expect(q.isEmpty)
    }

    /// Random appends, prepends and takes, checked against an array doing the same,
    /// enough of them for many cuts of the storage.
    @Test func agreesWithAnArrayThroughManyOperations() {
        var q = FIFO<Int>()
        var model: [Int] = []
        var rng = Mix(state: 8)  // DispatcherFuzzTests' generator
        for i in 0..<50_000 {
            switch rng.next() % 10 {
            case 0: q.prepend(i); model.insert(i, at: 0)
            case 1...5: q.append(i); model.append(i)
            default:
                let taken = q.removeFirst()
                #expect(taken == (model.isEmpty ? nil : model.removeFirst()))
            }
            if i % 997 == 0 { #expect(q.count == model.count && q.first == model.first) }
        }
        while let item = q.removeFirst() { #expect(item == model.removeFirst()) }
        #expect(model.isEmpty)
    }
}
