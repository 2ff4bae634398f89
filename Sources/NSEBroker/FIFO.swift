/// A first-in, first-out queue whose every operation costs O(1), amortized.
/// The broker's queue of jobs can hold every instance of a scan (10,240 in
/// bench/run's scale): an Array's removeFirst moves all the rest each time.
/// Taken items leave a hole at the front, which is cut off once it is at least
/// half of the storage.
struct FIFO<Element> {
    private var items: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    var count: Int { items.count - head }
    var first: Element? { isEmpty ? nil : items[head] }

    mutating func append(_ item: Element) { items.append(item) }

    /// Puts `item` ahead of every other.
    mutating func prepend(_ item: Element) {
        if head > 0 {
            head -= 1
            items[head] = item
        } else {
            items.insert(item, at: 0)
        }
    }

    mutating func removeFirst() -> Element? {
        guard !isEmpty else { return nil }
        let item = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 32 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
