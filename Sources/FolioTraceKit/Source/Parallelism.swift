import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How many cores a pass may use, and a way to use them.
///
/// `FOLIOTRACE_SERIAL=1` in the environment makes every pass single-threaded and in the
/// order it had before any work moved to another core (chunks inflated in line, records
/// counted through the merge): the reference that the tests compare the threaded passes with.
enum Parallelism {
    /// Whether `FOLIOTRACE_SERIAL=1` asks for the single-threaded passes.
    static let serial: Bool = {
        guard let value = getenv("FOLIOTRACE_SERIAL") else { return false }
        return String(cString: value) == "1"
    }()

    /// Cores online (at least 1).
    static let cores: Int = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// Runs `body(0)` ... `body(count - 1)` at once, all but the last on threads of their own
    /// and the last on the calling thread, and returns when every one has returned (so what
    /// they wrote is visible to the caller). A thread that cannot be started runs its body
    /// on the calling thread, after the others have started.
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        let ended = DispatchSemaphore(value: 0)
        var started = 0
        var unstarted: [Int] = []
        for i in 0..<(count - 1) {
            let rc = startThread(name: "foliotrace-\(i)") {
                body(i)
                ended.signal()
            }
            if rc == 0 { started += 1 } else { unstarted.append(i) }
        }
        body(count - 1)
        for i in unstarted { body(i) }
        for _ in 0..<started { ended.wait() }
    }
}
