import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A mutex over `pthread_mutex_t`, for the queues a live capture's reader thread shares with
/// the analysis. It stands in for Foundation's `NSLock`, which is not in FoundationEssentials:
/// the core links no Foundation, so a static binary carries no internationalization data.
final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() {
        let rc = pthread_mutex_init(mutex, nil)
        precondition(rc == 0, "pthread_mutex_init: \(rc)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }

    func unlock() { pthread_mutex_unlock(mutex) }
}

/// Runs `body` on a new thread named `name` (at most 15 bytes are kept); the thread is
/// detached. Stands in for Foundation's `Thread`, as `Lock` does for `NSLock`.
/// - Returns: 0, or the `pthread_create` error.
@discardableResult
func startThread(name: String, _ body: @escaping @Sendable () -> Void) -> Int32 {
    final class Box: @unchecked Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(
        &thread,
        nil,
        { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            // pthread_setname_np needs _GNU_SOURCE, which Glibc's module does not define;
            // the kernel takes the same name through /proc.
            let comm = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if comm >= 0 {
                let name = Array(box.name.utf8.prefix(15))
                _ = name.withUnsafeBytes { write(comm, $0.baseAddress, $0.count) }
                close(comm)
            }
            box.body()
            return nil
        },
        box
    )
    if rc == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<Box>.fromOpaque(box).release()
    }
    return rc
}

/// A thread that runs a polling loop until asked to stop: the readers of the kernel's ring
/// buffers (`record`'s per-CPU splicers, `tail`'s reader).
final class PollingThread: @unchecked Sendable {
    /// What one turn of the loop found.
    enum Turn {
        /// Did work: go on at once (a burst is read back to back).
        case worked
        /// Found nothing: sleep a little first.
        case idle
        /// Cannot go on (an error the owner keeps): end the loop.
        case done
    }

    private let lock = Lock()
    private var stopping = false
    private var running = false
    private let finished = DispatchSemaphore(value: 0)

    /// Starts `turn` on a thread named `name`, sleeping `idleMicroseconds` after an idle turn.
    /// - Returns: whether the thread started.
    @discardableResult
    func start(name: String, idleMicroseconds: UInt32, _ turn: @escaping @Sendable () -> Turn) -> Bool {
        running = true
        let rc = startThread(name: name) { [self] in
            loop: while !shouldStop() {
                switch turn() {
                case .worked: continue
                case .idle: usleep(idleMicroseconds)
                case .done: break loop
                }
            }
            finished.signal()
        }
        if rc != 0 { running = false }
        return rc == 0
    }

    private func shouldStop() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    /// Asks the loop to stop and waits for its thread to end.
    func stop() {
        guard running else { return }
        lock.lock()
        stopping = true
        lock.unlock()
        finished.wait()
        running = false
    }
}
