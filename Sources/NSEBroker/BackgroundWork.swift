import Foundation
import Glibc

/// Runs blocking work (name resolution) off the event loop and hands the result
/// back on it: the broker's loop never waits for a DNS server. The worker thread
/// only touches the locked queue and the wake-up pipe.
final class BackgroundWork: @unchecked Sendable {
    private let reactor: Reactor
    private let readEnd: Int32
    private let writeEnd: Int32
    private let lock = NSLock()
    private var done: [() -> Void] = []

    private struct Unchecked<T>: @unchecked Sendable { let value: T }

    init(reactor: Reactor) {
        self.reactor = reactor
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readEnd = fds[0]
        writeEnd = fds[1]
        reactor.watch(readEnd, .read) { [weak self] _, _, _ in self?.drain() }
    }

    deinit {
        reactor.unwatch(readEnd)
        close(readEnd)
        close(writeEnd)
    }

    /// Runs `work` on another thread, then `completion` with its result on the loop.
    func run<T>(_ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        let box = Unchecked(value: completion)
        Thread { [self] in
            let result = Unchecked(value: work())
            lock.lock()
            done.append { box.value(result.value) }
            lock.unlock()
            var one: UInt8 = 1
            _ = write(writeEnd, &one, 1)
        }.start()
    }

    private func drain() {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &sink, 64) > 0 {}
        lock.lock()
        let ready = done
        done = []
        lock.unlock()
        for f in ready { f() }
    }
}
