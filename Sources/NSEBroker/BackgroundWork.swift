import Glibc

/// Runs blocking work (name resolution) off the event loop and hands the result
/// back on it: the broker's loop never waits for a DNS server. The worker thread
/// only touches the locked queue and the wake-up pipe.
final class BackgroundWork: @unchecked Sendable {
    private let reactor: Reactor
    private let readEnd: Int32
    private let writeEnd: Int32
    /// Its own allocation: a mutex must not move.
    private let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
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
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Runs `work` on another thread, then `completion` with its result on the loop.
    func run<T>(_ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        let box = Unchecked(value: completion)
        let body = ThreadBody { [self] in
            let result = Unchecked(value: work())
            pthread_mutex_lock(lock)
            done.append { box.value(result.value) }
            pthread_mutex_unlock(lock)
            var one: UInt8 = 1
            _ = write(writeEnd, &one, 1)
        }
        let context = Unmanaged.passRetained(body).toOpaque()
        var thread = pthread_t()
        guard pthread_create(&thread, nil, { context in
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context) == 0 else {
            // No thread to be had: the work runs here, its result on the loop as ever.
            Unmanaged<ThreadBody>.fromOpaque(context).takeRetainedValue().run()
            return
        }
        pthread_detach(thread)
    }

    private func drain() {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(readEnd, &sink, 64) > 0 {}
        pthread_mutex_lock(lock)
        let ready = done
        done = []
        pthread_mutex_unlock(lock)
        for f in ready { f() }
    }
}

/// A closure, for pthread_create's context pointer.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
