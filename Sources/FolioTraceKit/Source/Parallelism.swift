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

    /// Whether threads of our own (chunks inflated ahead, records read ahead, CPUs counted on
    /// each core) have room under the process's address-space limit (`AddressSpace`).
    static var threadsFit: Bool { AddressSpace.roomy }

    /// Runs `body(0)` ... `body(count - 1)` at once, all but the last on threads of their own
    /// and the last on the calling thread, and returns when every one has returned (so what
    /// they wrote is visible to the caller). A thread that cannot be started runs its body
    /// on the calling thread, after the others have started.
    static func run(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 1, threadsFit else {
            for i in 0..<count { body(i) }
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

/// The process's address-space limit (`ulimit -v`, `RLIMIT_AS`), and whether it leaves room
/// for what a pass can do without: its threads (a thread's stack is 8 MiB, glibc's malloc
/// arena for it 64 MiB of address space, the read-ahead batches 49 MiB) and the head table's
/// directory (16 MiB, `HeadTable`).
///
/// Under a tight limit those take the room the in-line pass needs, and an allocation that
/// then fails in Swift ends the process: `analyze` of a v7 fixture under `ulimit -v 47880`,
/// where the in-line pass works, died in the JSON writer's buffer with threads started, and
/// the in-line pass of the v6 one died under 50663 (and not under 48615 or 52000) once the
/// directory had been mapped. So with less room than `room` above what the process maps when
/// first asked (the trace's map included), a pass starts no thread and maps no directory, and
/// works wherever its in-line, hashed form does (`InflateAheadTests.smallAddressSpaceFinishesAsInLine`).
enum AddressSpace {
    /// No limit, or one at least `room` above what the process maps now.
    static let roomy: Bool = {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_AS.rawValue)
        #else
        let resource = RLIMIT_AS
        #endif
        guard getrlimit(resource, &limit) == 0, limit.rlim_cur != rlim_t.max else { return true }  // RLIM_INFINITY
        return Int(clamping: limit.rlim_cur) - mappedBytes() >= room
    }()

    /// The room the optional parts need, with a margin for the pass's own growth.
    static let room = 256 << 20

    /// The process's mapped address space (`VmSize`, the first field of /proc/self/statm, in
    /// pages), or 0 when it cannot be read.
    private static func mappedBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let pages = buffer.prefix(n).prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            .reduce(0) { $0 &* 10 &+ Int($1 - UInt8(ascii: "0")) }
        return pages &* Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
