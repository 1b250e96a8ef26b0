#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A record stream read ahead on a thread of its own: the base stream (the k-way merge and
/// the walk of every CPU's pages) runs on the second core and hands its records over in
/// batches, while the caller's thread decodes and models them.
///
/// The caller sees the records the base stream gives, in its order, with the same bytes, then
/// its end or its error at the same place, so every result is that of the single-threaded pass
/// (`ReadAheadTests` compares them on every fixture). Two things make that exact:
/// - A record's payload is valid only until the base stream's next call, so the reader copies
///   it into the batch's arena; the caller's copy is valid until its own next call, as the
///   `RecordStream` contract says.
/// - The base stream's state after the pass (losses, damage notes, what a perf.data taught)
///   must be the state where the caller stopped, not where the reader had got to: the reader
///   stops itself at the record where the caller will (`stop`, the end of the analysed
///   window), or at the end or the error, and the caller reads that state (`finished`) only
///   once the reader has stopped.
///
/// At most `Sizes.batchesInFlight` batches exist: a reader ahead by that much waits for the
/// caller, so memory stays bounded (about 9 MiB) whatever the trace's length.
struct ReadAheadStream<Base: RecordStream>: RecordStream {
    /// Whether streams are read ahead: more than one core online and no `FOLIOTRACE_SERIAL=1`
    /// (as for the inflation of compressed chunks ahead, `InflatingChunk.ahead`).
    static var enabled: Bool { InflatingChunk.ahead }

    /// The sizes of the hand-over (small ones in tests, to cross every boundary).
    struct Sizes {
        var batchesInFlight = 4
        var recordsPerBatch = 8192
        var arenaBytes = 1 << 21
    }

    /// One record as the reader stored it: the payload is `length` bytes at `offset` of the
    /// batch's arena.
    struct Slot {
        var timestamp: UInt64
        var missedEvents: Int64
        var offset: Int
        var length: Int
        var cpu: Int32
        var bigEndian: Bool
    }

    /// How the reader ended after a batch's records.
    enum Ending {
        case end
        case failed(TraceFileError)
    }

    /// Records and their payloads, filled by the reader, then read by the caller.
    final class Batch {
        let slots: UnsafeMutablePointer<Slot>
        let capacity: Int
        var count = 0
        var arena: UnsafeMutableRawPointer
        var arenaCapacity: Int
        var used = 0
        /// The base stream's `fractionRead` after the batch's last record.
        var fraction = 0.0
        var ending: Ending?

        init(_ sizes: Sizes) {
            capacity = max(sizes.recordsPerBatch, 1)
            slots = .allocate(capacity: capacity)
            arenaCapacity = sizes.arenaBytes
            arena = .allocate(byteCount: arenaCapacity, alignment: 16)
        }

        deinit {
            slots.deallocate()
            arena.deallocate()
        }

        func reset() {
            count = 0
            used = 0
            ending = nil
        }

        /// Stores `r` and says true, or says false when the batch has no room for it.
        func append(_ r: RawRecord) -> Bool {
            let length = r.payload.count
            guard count < capacity, used + length <= arenaCapacity else {
                if count == 0 {  // a payload larger than an empty arena: a larger arena
                    arena.deallocate()
                    arenaCapacity = length
                    arena = .allocate(byteCount: arenaCapacity, alignment: 16)
                    return append(r)
                }
                return false
            }
            if length > 0 { (arena + used).copyMemory(from: r.payload.baseAddress!, byteCount: length) }
            slots[count] = Slot(
                timestamp: r.timestamp,
                missedEvents: r.missedEvents,
                offset: used,
                length: length,
                cpu: r.cpu,
                bigEndian: r.bigEndian
            )
            count += 1
            used += (length + 7) & ~7
            return true
        }

        func record(_ i: Int) -> RawRecord {
            let s = slots[i]
            return RawRecord(
                timestamp: s.timestamp,
                cpu: s.cpu,
                missedEvents: s.missedEvents,
                payload: UnsafeRawBufferPointer(start: arena + s.offset, count: s.length),
                bigEndian: s.bigEndian
            )
        }
    }

    /// What the reader and the caller share, under `mutex`.
    final class Shared: BatchReader, @unchecked Sendable {
        var base: Base
        let stop: (RawRecord) -> Bool
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        /// Filled batches, oldest first, and empty ones for the reader.
        private var filled: [Batch] = []
        private var empty: [Batch] = []
        private var readerDone = false
        private var cancelled = false

        init(base: Base, stop: @escaping (RawRecord) -> Bool, sizes: Sizes) {
            self.base = base
            self.stop = stop
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(changed, nil)
            empty = (0..<max(sizes.batchesInFlight, 1)).map { _ in Batch(sizes) }
        }

        deinit {
            pthread_cond_destroy(changed)
            pthread_mutex_destroy(mutex)
            changed.deallocate()
            mutex.deallocate()
        }

        private func locked<R>(_ body: () -> R) -> R {
            pthread_mutex_lock(mutex)
            defer { pthread_mutex_unlock(mutex) }
            return body()
        }

        /// The reader's loop: fills batches until the base stream ends, fails, reaches the
        /// caller's stop, or the caller goes away.
        func read() {
            defer {
                locked {
                    readerDone = true
                    pthread_cond_broadcast(changed)
                }
            }
            guard var batch = takeEmpty() else { return }
            while true {
                var ending: Ending?
                do throws(TraceFileError) {
                    if let r = try base.next() {
                        if !batch.append(r) {
                            // Full: it goes as it is, and the record starts the next batch
                            // (copied now: its payload is valid only until the next call).
                            batch.fraction = base.fractionRead
                            hand(batch)
                            guard let fresh = takeEmpty() else { return }
                            batch = fresh
                            _ = batch.append(r)
                        }
                        if stop(r) { ending = .end }
                    } else {
                        ending = .end
                    }
                } catch {
                    ending = .failed(error)
                }
                if let ending {
                    batch.ending = ending
                    batch.fraction = base.fractionRead
                    hand(batch)
                    return
                }
            }
        }

        /// An empty batch, waiting for the caller to give one back; nil once it has gone.
        private func takeEmpty() -> Batch? {
            locked {
                while empty.isEmpty, !cancelled { pthread_cond_wait(changed, mutex) }
                if cancelled { return nil }
                let batch = empty.removeLast()
                batch.reset()
                return batch
            }
        }

        private func hand(_ batch: Batch) {
            locked {
                filled.append(batch)
                pthread_cond_broadcast(changed)
            }
        }

        /// The next filled batch, after giving `done` back; waits for the reader.
        func next(after done: Batch?) -> Batch {
            locked {
                if let done { empty.append(done) }
                pthread_cond_broadcast(changed)
                while filled.isEmpty { pthread_cond_wait(changed, mutex) }
                return filled.removeFirst()
            }
        }

        /// Waits until the reader has stopped, asking it to stop first when `cancel`.
        func waitForReader(cancel: Bool) {
            locked {
                if cancel { cancelled = true }
                pthread_cond_broadcast(changed)
                while !readerDone { pthread_cond_wait(changed, mutex) }
            }
        }
    }

    /// Stops the reader when the stream goes away before its end (a caller that gave up):
    /// the reader would otherwise wait for a batch forever, holding the base stream.
    private final class Owner {
        let shared: Shared
        init(_ shared: Shared) { self.shared = shared }
        deinit { shared.waitForReader(cancel: true) }
    }

    private let shared: Shared
    private let owner: Owner?
    private var current: Batch?
    private var index = 0
    private var over = false

    /// Starts reading `base` ahead. `stop` says, for each record, whether the caller stops
    /// after it (it sees that record, then no more): the reader stops there too.
    init(_ base: Base, stop: @escaping (RawRecord) -> Bool = { _ in false }, sizes: Sizes = Sizes()) {
        shared = Shared(base: base, stop: stop, sizes: sizes)
        // (through the protocol: a closure that named Shared would capture Base's metatype)
        let reader: any BatchReader = shared
        // Without a thread (pthread_create failed), the base stream is read in line.
        owner = startThread(name: "foliotrace-read", { reader.read() }) == 0 ? Owner(shared) : nil
    }

    mutating func next() throws(TraceFileError) -> RawRecord? {
        guard owner != nil else { return try shared.base.next() }
        while true {
            if over { return nil }
            if let batch = current, index < batch.count {
                defer { index += 1 }
                return batch.record(index)
            }
            if let ending = current?.ending {
                over = true
                if case .failed(let error) = ending { throw error }
                return nil
            }
            current = shared.next(after: current)
            index = 0
        }
    }

    /// The base stream once the reader has stopped: its state where the caller stopped.
    var finished: Base {
        if owner != nil { shared.waitForReader(cancel: !over) }
        return shared.base
    }

    var lostEvents: [LostEvents] { finished.lostEvents }
    var fractionRead: Double { owner == nil ? shared.base.fractionRead : current?.fraction ?? 0 }
    var damageNotes: [String] { finished.damageNotes }
}

/// The reader thread's side of a `ReadAheadStream`.
private protocol BatchReader: AnyObject, Sendable {
    func read()
}
