import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One chunk of a compressed CPU's data (trace.dat v7: zstd frames or zlib streams), inflated
/// on another core while the chunk before it is read.
///
/// Decompression is a third of `foliotrace events` on a zstd file and its records cannot be
/// read before it, but the next chunk's can be inflated while this one's are: each CPU's
/// `PageSupply` keeps one chunk in flight, on libdispatch's global queue (as many threads as
/// cores), and waits for it only when it gets there. The bytes, and any problem, are those
/// of the same call made in line, so every result is the single-threaded pass's; only when
/// the inflation happens changes. `FOLIOTRACE_SERIAL=1` (or a machine with one core) inflates
/// every chunk in line, as before.
final class InflatingChunk: @unchecked Sendable {
    /// The chunk's index in its CPU's table.
    let index: Int
    /// Where it is inflated: its first `size` bytes (the buffer may be longer, reused).
    let buffer: OwnedBytes
    /// The problem the inflation met, set before `done` is signalled.
    private var problem: TraceProblem?
    private let done = DispatchSemaphore(value: 0)
    /// Kept until the inflation ends: the compressed bytes point into its map, and a reader
    /// that stops early (a window's end, an error) may let go of it first.
    private let file: TraceFile

    /// Starts inflating `compressed` (its claimed size `size`), which points into `file`'s
    /// map, into `buffer`.
    init(
        index: Int,
        compressed: UnsafeRawBufferPointer,
        size: Int,
        into buffer: OwnedBytes,
        compression: Compression,
        file: TraceFile
    ) {
        self.index = index
        self.buffer = buffer
        self.file = file
        let source = UncheckedBytes(compressed)
        DispatchQueue.global().async { [self] in
            do throws(TraceProblem) {
                try Self.inflate(source.bytes, size: size, into: self.buffer, index: index, compression)
            } catch {
                problem = error
            }
            done.signal()
        }
    }

    /// Waits for the inflation to end.
    /// - Returns: its problem, if it failed (the chunk's pages are then skipped).
    func wait() -> TraceProblem? {
        done.wait()
        return problem
    }

    /// What `PageSupply` does with one chunk, in line or here: the size claim checked, then
    /// the bytes inflated into the first `size` bytes of `buffer`.
    static func inflate(
        _ compressed: UnsafeRawBufferPointer,
        size: Int,
        into buffer: OwnedBytes,
        index: Int,
        _ compression: Compression
    ) throws(TraceProblem) {
        try compression.checkClaim(compressed, size: size, what: "CPU data chunk \(index)")
        try compression.uncompress(
            compressed,
            into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[0..<size]),
            what: "CPU data chunk \(index)"
        )
    }

    /// Whether chunks are inflated ahead: more than one core online, and no
    /// `FOLIOTRACE_SERIAL=1` in the environment.
    static let ahead = !Parallelism.serial && Parallelism.cores > 1
}

/// A file's bytes handed to the inflating thread: the map they point into is kept alive by
/// the `TraceFile` the job holds, and nobody writes them.
private struct UncheckedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
}
