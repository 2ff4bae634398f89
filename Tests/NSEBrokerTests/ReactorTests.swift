import Glibc
import Testing
@testable import NSEBroker

// The broker's event loop on real pipes: each ready descriptor's own handler
// runs, whatever watches came and went before (a watch's slot is reused when
// another is removed), and timers fire unless cancelled.
@Suite("Reactor") struct ReactorTests {
    /// A pipe whose read end the reactor watches; closed at the end.
    final class Pipe {
        let read: Int32, write: Int32
        init(at fd: Int32? = nil) {
            var fds: [Int32] = [-1, -1]
            _ = pipe(&fds)
            if let fd { _ = dup2(fds[0], fd); close(fds[0]); read = fd } else { read = fds[0] }
            write = fds[1]
        }
        func poke() { var b: UInt8 = 1; _ = Glibc.write(write, &b, 1) }
        func drain() { var b = [UInt8](repeating: 0, count: 16); _ = Glibc.read(read, &b, 16) }
        deinit { close(read); close(write) }
    }

    @Test func eachReadyDescriptorRunsItsOwnHandler() {
        let reactor = Reactor()
        // The last one far above the others: the table grows to it.
        let pipes = [Pipe(), Pipe(), Pipe(), Pipe(at: 700)]
        var fired: [String] = []
        for (i, p) in pipes.enumerated() {
            reactor.watch(p.read, .read) { readable, _, _ in if readable { p.drain(); fired.append("p\(i)") } }
        }
        // The second goes; the last watch moves into its place.
        reactor.unwatch(pipes[1].read)
        reactor.unwatch(pipes[1].read)  // twice: nothing happens
        for p in pipes { p.poke() }
        reactor.runOnce()
        #expect(fired.sorted() == ["p0", "p2", "p3"])

        // Watched again, with another handler; and one watch replaced by another.
        fired = []
        reactor.watch(pipes[1].read, .read) { _, _, _ in pipes[1].drain(); fired.append("again") }
        reactor.watch(pipes[3].read, .read) { _, _, _ in pipes[3].drain(); fired.append("replaced") }
        pipes[1].drain()
        pipes[1].poke(); pipes[3].poke()
        reactor.runOnce()
        #expect(fired.sorted() == ["again", "replaced"])

        // A handler that removes the others' watches before their turn: they do
        // not run, whichever of the three runs first.
        fired = []
        reactor.unwatch(pipes[1].read)
        let three = [pipes[0], pipes[2], pipes[3]]
        for (i, p) in three.enumerated() {
            reactor.watch(p.read, .read) { _, _, _ in
                p.drain(); fired.append("p\(i)")
                for other in three where other !== p { reactor.unwatch(other.read) }
            }
        }
        for p in three { p.poke() }
        reactor.runOnce()
        #expect(fired.count == 1, "\(fired)")
        for p in pipes { reactor.unwatch(p.read) }
    }

    @Test func timersFireInOrderUnlessCancelled() {
        let reactor = Reactor()
        var fired: [Int] = []
        reactor.after(0.02) { fired.append(2) }
        let cancelled = reactor.after(0.01) { fired.append(99) }
        reactor.after(0.01) { fired.append(1) }
        reactor.cancel(cancelled)
        reactor.run(until: { fired.count == 2 })
        #expect(fired == [1, 2])
    }
}
