import Glibc
import NSESystem

/// The broker's event loop: poll(2) over every descriptor it owns (children's RPC
/// sockets and scripts' network sockets), plus timers. One thread, so handlers never
/// race and the registry needs no locks of its own.
///
/// Why not SwiftNIO: every descriptor here has exactly one owner and one pending
/// operation at a time, timeouts are per operation, and the child protocol is a
/// single length-prefixed frame format; a plain loop keeps that visible and lets
/// the broker decide the order in which children are served (docs/design.md).
public final class Reactor {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let read = Events(rawValue: Int16(POLLIN))
        public static let write = Events(rawValue: Int16(POLLOUT))
    }
    public typealias Handler = (_ readable: Bool, _ writable: Bool, _ hangup: Bool) -> Void

    // The loop's own state is `@exclusivity(unchecked)`: Swift's run-time
    // check of each access to a class's stored property was about a tenth of
    // the broker's user time in a round trip (docs/performance.md). It is safe
    // here because these properties are private to one thread's loop, and no
    // method of this file calls a handler or timer while it holds an access
    // to one: a handler or timer is copied out first, then called.

    /// What poll(2) is given, kept from round to round (a watch changes it in
    /// place), with each entry's handler at the same index and each descriptor's
    /// index in `slots`.
    @exclusivity(unchecked) private var pollfds: [pollfd] = []
    @exclusivity(unchecked) private var handlers: [Handler] = []
    /// -1 where a descriptor is not watched. Descriptors are small numbers (the
    /// kernel gives the lowest free one), and a socket's watch changes with each
    /// of its operations: an array, not a dictionary that hashes each look-up.
    @exclusivity(unchecked) private var slots: [Int] = []
    /// The descriptors one round found ready, and what for (kept for its capacity).
    @exclusivity(unchecked) private var ready: [(fd: Int32, revents: Int16)] = []
    @exclusivity(unchecked) private var timers: [Int: (deadline: Double, fire: () -> Void)] = [:]
    /// The timers by deadline (a binary min-heap); a cancelled one stays until it
    /// comes to the top, where it is dropped.
    @exclusivity(unchecked) private var due: [(deadline: Double, id: Int)] = []
    /// How many entries of `due` are cancelled timers: none, and the top needs no look-up.
    @exclusivity(unchecked) private var cancelledInDue = 0
    private var nextTimer = 1
    private var stopped = false

    public init() {}

    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Where `fd`'s watch is in `pollfds` and `handlers`, if it is watched.
    private func slot(_ fd: Int32) -> Int? {
        let n = Int(fd)
        guard n >= 0, n < slots.count, slots[n] >= 0 else { return nil }
        return slots[n]
    }

    /// Calls `handler` whenever `fd` is ready for `events`. Replaces an earlier watch.
    public func watch(_ fd: Int32, _ events: Events, _ handler: @escaping Handler) {
        if let i = slot(fd) {
            pollfds[i].events = events.rawValue
            handlers[i] = handler
        } else {
            guard fd >= 0 else { return }  // poll(2) skips these: it would never fire
            if Int(fd) >= slots.count { slots += repeatElement(-1, count: Int(fd) + 1 - slots.count) }
            slots[Int(fd)] = pollfds.count
            pollfds.append(pollfd(fd: fd, events: events.rawValue, revents: 0))
            handlers.append(handler)
        }
    }

    public func setEvents(_ fd: Int32, _ events: Events) {
        if let i = slot(fd) { pollfds[i].events = events.rawValue }
    }

    public func unwatch(_ fd: Int32) {
        guard let i = slot(fd) else { return }
        slots[Int(fd)] = -1
        let last = pollfds.count - 1
        if i != last {
            pollfds[i] = pollfds[last]
            handlers[i] = handlers[last]
            slots[Int(pollfds[i].fd)] = i
        }
        pollfds.removeLast()
        handlers.removeLast()
    }

    @discardableResult
    public func after(_ seconds: Double, _ fire: @escaping () -> Void) -> Int {
        let id = nextTimer
        nextTimer += 1
        let deadline = Reactor.now() + max(0, seconds)
        timers[id] = (deadline, fire)
        due.append((deadline, id))
        siftUp(due.count - 1)
        return id
    }

    public func cancel(_ timer: Int?) {
        guard let t = timer, timers.removeValue(forKey: t) != nil else { return }
        cancelledInDue += 1
        // Cancelled entries wait in the heap until they reach its top; when they
        // are most of it (a timeout per socket call), it is rebuilt.
        if due.count > 64 && due.count > 4 * timers.count {
            due = timers.map { (deadline: $0.value.deadline, id: $0.key) }.sorted { $0.deadline < $1.deadline }
            cancelledInDue = 0
        }
    }

    public func stop() { stopped = true }

    /// Runs until `done()` is true (checked after every round) or `stop()`.
    public func run(until done: () -> Bool) {
        stopped = false
        while !stopped && !done() {
            runOnce()
        }
    }

    /// Microseconds `runOnce` polls without sleeping before it waits (0: none).
    var spinMicros = 0

    /// One round: the timers that are due, one poll(2), the handlers of what it
    /// found ready. The clock is read once, at the start: a timer that comes due
    /// while the handlers run fires at the start of the next round, which follows
    /// at once. Poll's timeout is measured from that reading too, so a round
    /// whose timers took long waits that much past the next deadline: the
    /// timers' microseconds, beside the millisecond poll's timeout is rounded up to.
    func runOnce() {
        let now = Reactor.now()
        fireDueTimers(now)
        let timeout = nextTimeoutMillis(now)
        var n: Int32 = 0
        if spinMicros > 0 && timeout != 0 {
            // Looks again without sleeping until something is ready or the spin is over.
            let deadline = now + Double(spinMicros) / 1e6
            repeat {
                n = pollfds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), 0) }
            } while n == 0 && Reactor.now() < deadline
        }
        if n == 0 { n = pollfds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) } }
        if n < 0 {
            if errno == EINTR { return }
            fatalError("poll: \(SystemError("poll", errno: errno))")
        }
        if n == 1 {
            // The usual round: one descriptor, and no list of them to keep.
            guard let p = pollfds.first(where: { $0.revents != 0 }) else { return }
            dispatch(p.fd, p.revents)
        } else if n > 1 {
            // Handlers change the watches: the ready ones are noted first.
            var found = ready
            ready = []
            found.removeAll(keepingCapacity: true)
            for p in pollfds where p.revents != 0 { found.append((p.fd, p.revents)) }
            for (fd, r) in found { dispatch(fd, r) }
            ready = found
        }
    }

    /// Calls `fd`'s handler with what poll found, if it is still watched.
    @inline(__always)
    private func dispatch(_ fd: Int32, _ r: Int16) {
        // A handler may have removed or replaced another watch: look it up again.
        guard let i = slot(fd) else { return }
        let handler = handlers[i]  // copied out: it may change `handlers`
        handler(r & Int16(POLLIN) != 0, r & Int16(POLLOUT) != 0, r & Int16(POLLHUP | POLLERR | POLLNVAL) != 0)
    }

    private func nextTimeoutMillis(_ now: Double) -> Int32 {
        dropCancelled()
        guard let soonest = due.first?.deadline else { return 1000 }
        let ms = (soonest - now) * 1000
        return Int32(max(0, min(1000, ms.rounded(.up))))
    }

    /// Fires the timers whose deadline had passed at `now`, earliest first. One
    /// that a timer adds with no delay waits for the next round.
    private func fireDueTimers(_ now: Double) {
        dropCancelled()
        while true {
            dropCancelled()
            guard let top = due.first, top.deadline <= now else { return }
            popTop()
            if let t = timers.removeValue(forKey: top.id) { t.fire() }
        }
    }

    private func dropCancelled() {
        while cancelledInDue > 0, let top = due.first, timers[top.id] == nil {
            popTop()
            cancelledInDue -= 1
        }
    }

    private func popTop() {
        due.swapAt(0, due.count - 1)
        due.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < due.count && due[l].deadline < due[m].deadline { m = l }
            if r < due.count && due[r].deadline < due[m].deadline { m = r }
            if m == i { return }
            due.swapAt(i, m)
            i = m
        }
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            if due[parent].deadline <= due[i].deadline { return }
            due.swapAt(i, parent)
            i = parent
        }
    }
}
