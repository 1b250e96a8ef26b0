import CPrefetch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A record stream read ahead on a thread of its own: the base stream (the k-way merge and
/// the walk of every CPU's pages) runs on the second core, with the decoder when one is given,
/// and hands its records and their events over in batches, while the caller's thread models
/// them.
///
/// The caller sees the records the base stream gives, in its order, with the same bytes, then
/// its end or its error at the same place, so every result is that of the single-threaded pass
/// (`ReadAheadTests` compares them on every fixture); a caller that asks the reader to fold
/// memcg stat records (`foldingStats`, `StatFolding`) sees those it folds as counts on the
/// records it hands over. Two things make that exact:
/// - A record's payload is valid only until the base stream's next call, so the reader copies
///   it into the batch's arena; the caller's copy is valid until its own next call, as the
///   `RecordStream` contract says. An event decoded there is a view of those bytes, and the
///   decoder is a pure function of them and its layouts: the same event as decoded in line.
/// - The base stream's state after the pass (losses, damage notes, what a perf.data taught)
///   must be the state where the caller stopped, not where the reader had got to: the reader
///   stops itself at the record where the caller will (the first past the analysed window's
///   end), or at the end or the error, and the caller reads that state (`finished`) only once
///   the reader has stopped.
///
/// The loops on both sides keep their cursors in local or struct variables: a class's stored
/// `var` is checked for exclusive access at run time on every use, which had cost the reader
/// more than the merge it runs.
///
/// At most `Sizes.batchesInFlight` batches exist (each an arena, its slots and their events):
/// a reader ahead by that much waits for the caller, so memory stays bounded whatever the
/// trace's length (each batch is 3 MiB of address space, of which the scale capture's
/// records touch about 1 MiB: 16 batches took 16 MiB more peak RSS than 4).
///
/// Neither side should wait: the two threads do about the same work over the whole trace,
/// but not over each stretch of it (a run of frees is the engine's work, a run of stat
/// records the reader's), and a side that sleeps must be woken (a system call on the other
/// side, a context switch on its own). So there are 16 batches (130 000 records, some 10 ms
/// of either side's work) to even the stretches out, and a side that finds none ready polls
/// for about a batch's time (`Shared.spin`) before it sleeps: on the scale capture, 750
/// sleeps a pass became 130-330 (docs/performance.md, sixteenth session).
struct ReadAheadStream<Base: RecordStream & SendableMetatype>: RecordStream {
    /// Whether streams are read ahead: more than one core online, no `FOLIOTRACE_SERIAL=1`,
    /// and room for a thread under an address-space limit (`Parallelism`).
    static var enabled: Bool { !Parallelism.serial && Parallelism.cores > 1 && Parallelism.threadsFit }

    /// The sizes of the hand-over (small ones in tests, to cross every boundary).
    struct Sizes {
        var batchesInFlight = 16
        var recordsPerBatch = 8192
        var arenaBytes = 1 << 21
    }

    /// One record as the reader stored it: the payload is `length` bytes at `offset` of the
    /// batch's arena (2 MiB, or one record's size: a ring-buffer page or a perf.data record is
    /// at most 64 KiB). 72 bytes.
    struct Slot {
        var timestamp: UInt64
        var missedEvents: Int64
        var offset: Int32
        var length: Int32
        var cpu: Int32
        var bigEndian: Bool
        /// The decoded event's `MMEvent.folioPfn` (`noFolio` when not decoded), for the
        /// caller's loop to prefetch records ahead (`LifecycleEngine+Prefetch`).
        var folioPfn = MMEvent.noFolio
        /// When the reader folds stat records (`StatFolding`): how many it folded just before
        /// this record, the last one's timestamp, and the stat just before this record on its
        /// CPU (`.none` outside the window).
        var folded: UInt32 = 0
        var foldedLast: UInt64 = 0
        var previousStat = StatMark.none

        @inline(__always)
        func record(_ arena: UnsafeMutableRawPointer) -> RawRecord {
            RawRecord(
                timestamp: timestamp,
                cpu: cpu,
                missedEvents: missedEvents,
                payload: UnsafeRawBufferPointer(start: arena + Int(offset), count: Int(length)),
                bigEndian: bigEndian
            )
        }
    }

    /// How the reader ended after a batch's records.
    enum Ending {
        case end
        case failed(TraceFileError)
    }

    /// The memory of one batch, and what the reader says of it when it hands it over.
    final class Batch {
        let slots: UnsafeMutablePointer<Slot>
        /// The slots' events, when the reader decodes (initialized up to `count`).
        let events: UnsafeMutablePointer<MMEvent>
        let capacity: Int
        var arena: UnsafeMutableRawPointer
        var arenaBytes: Int
        var count = 0
        /// The base stream's `fractionRead` after the batch's last record.
        var fraction = 0.0
        var ending: Ending?
        /// Stat records folded into the batch (`StatFolding`), by event id: `foldedKinds`
        /// ids and their counts.
        let foldedIDs: UnsafeMutablePointer<UInt16>
        let foldedCounts: UnsafeMutablePointer<UInt64>
        var foldedKinds = 0
        /// Stat records folded after the batch's last record (at the stream's end), and the
        /// last one's timestamp.
        var trailingFolded: UInt32 = 0
        var trailingLast: UInt64 = 0

        /// A batch of `sizes`, or nil when the memory for it cannot be had (a `ulimit -v`): the
        /// stream is then read in line. From malloc, not Swift's allocator, which ends the
        /// process when an allocation fails (`analyze` under `ulimit -v 40000` died so).
        init?(_ sizes: Sizes) {
            capacity = max(sizes.recordsPerBatch, 1)
            arenaBytes = max(sizes.arenaBytes, 16)
            // malloc's blocks are aligned for any scalar (16 bytes here), as slots, events and
            // the arena's payloads need.
            let slots = malloc(capacity * MemoryLayout<Slot>.stride)
            let events = malloc(capacity * MemoryLayout<MMEvent>.stride)
            let arena = malloc(arenaBytes)
            guard let slots, let events, let arena else {
                free(slots)
                free(events)
                free(arena)
                return nil
            }
            self.slots = slots.bindMemory(to: Slot.self, capacity: capacity)
            self.events = events.bindMemory(to: MMEvent.self, capacity: capacity)
            self.arena = arena
            foldedIDs = .allocate(capacity: StatFolding.idCapacity)
            foldedCounts = .allocate(capacity: StatFolding.idCapacity)
        }

        deinit {
            events.deinitialize(count: decoded)
            free(events)
            free(slots)
            free(arena)
            foldedIDs.deallocate()
            foldedCounts.deallocate()
        }

        /// Events initialized in `events`.
        var decoded = 0

        /// Drops the events of the batch's last use.
        func reuse() {
            events.deinitialize(count: decoded)
            decoded = 0
            foldedKinds = 0
            trailingFolded = 0
        }

        /// Counts a folded stat record of `id`; false when the batch counts as many ids as
        /// it can and this is another (the record is then handed over).
        @inline(__always)
        func countFolded(_ id: UInt16) -> Bool {
            for k in 0..<foldedKinds where foldedIDs[k] == id {
                foldedCounts[k] &+= 1
                return true
            }
            guard foldedKinds < StatFolding.idCapacity else { return false }
            (foldedIDs[foldedKinds], foldedCounts[foldedKinds]) = (id, 1)
            foldedKinds += 1
            return true
        }

        /// An arena of at least `bytes` (a payload larger than the arena, in an empty batch).
        /// Only a test's arena is smaller than a record (a ring-buffer page is at most 64 KiB,
        /// a perf.data sample too; the arena 2 MiB).
        func grow(to bytes: Int) {
            free(arena)
            arenaBytes = bytes
            guard let grown = malloc(bytes) else { fatalError("no memory for a \(bytes)-byte record") }
            arena = grown
        }
    }

    /// The reader's cursor in the batch it fills.
    struct Filling {
        let batch: Batch
        var count = 0
        var used = 0
        var arena: UnsafeMutableRawPointer
        var arenaBytes: Int

        init(_ batch: Batch) {
            self.batch = batch
            arena = batch.arena
            arenaBytes = batch.arenaBytes
        }

        /// Stores `r` (and its event, decoded from the stored copy, when `decoder` is given)
        /// and says true, or says false when the batch has no room for it. With `folding`
        /// (and a decoder), a stat record `inside` the caller's window that `StatFolding`
        /// allows is folded instead of stored, and each record stored gets its adjacency and
        /// the count folded before it.
        mutating func append(
            _ r: RawRecord,
            _ decoder: EventDecoder.Borrowed?,
            _ folding: inout StatFolding?,
            inside: Bool
        ) -> Bool {
            let length = r.payload.count
            let id = r.eventID
            if inside, folding != nil, let decoder, folding.unsafelyUnwrapped.canFold(r),
                let stat = decoder.memcgStat(r, id: id), batch.countFolded(id)
            {
                folding!.fold(r, StatMark(pid: r.pid, stat))
                return true
            }
            if count == batch.capacity || used + length > arenaBytes {
                guard count == 0 else { return false }
                batch.grow(to: length)
                (arena, arenaBytes) = (batch.arena, batch.arenaBytes)
            }
            if length > 0 { (arena + used).copyMemory(from: r.payload.baseAddress!, byteCount: length) }
            var slot = Slot(
                timestamp: r.timestamp,
                missedEvents: r.missedEvents,
                offset: Int32(truncatingIfNeeded: used),
                length: Int32(truncatingIfNeeded: length),
                cpu: r.cpu,
                bigEndian: r.bigEndian
            )
            if let event = decoder?.decode(slot.record(arena), id: id) {
                (batch.events + count).initialize(to: event)
                slot.folioPfn = event.folioPfn
                if folding != nil {
                    slot.foldedLast = folding.unsafelyUnwrapped.pendingLast
                    slot.folded = folding!.takePending()
                    if inside { slot.previousStat = folding!.handOver(r, event) }
                }
            }
            batch.slots[count] = slot
            count += 1
            used += (length + 7) & ~7
            return true
        }

        /// Says how many records the batch holds, and how the stream went after them (at an
        /// ending, with the stat records folded after the last one).
        func seal(fraction: Double, ending: Ending?, decoded: Bool, folding: inout StatFolding?) -> Batch {
            batch.count = count
            batch.decoded = decoded ? count : 0
            batch.fraction = fraction
            batch.ending = ending
            if ending != nil, folding != nil {
                batch.trailingLast = folding.unsafelyUnwrapped.pendingLast
                batch.trailingFolded = folding!.takePending()
            }
            return batch
        }
    }

    /// What the reader and the caller share, under `mutex`.
    final class Shared: @unchecked Sendable {
        /// The base stream: the caller's once the reader has stopped (nil while the reader
        /// holds it: a second reference would make each of its copy-on-write buffers copy
        /// itself on the reader's first change).
        var base: Base?
        /// The caller's window from the first record's timestamp: the caller stops after the
        /// first record past its end that is not before its start.
        let window: (UInt64) -> (start: UInt64, end: UInt64)
        /// Decodes each record on the reader's thread, when given.
        let decoder: EventDecoder?
        /// The caller's timeline schedule, when the reader folds stat records (`StatFolding`).
        let folding: Timeline.Schedule?
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        /// Filled batches, oldest first, and empty ones for the reader.
        private var filled: [Batch] = []
        private var empty: [Batch] = []
        private var readerDone = false
        private var cancelled = false

        /// How long a side polls for a batch before it sleeps: about one batch's fill or
        /// use (100 ns a record, at most 1 ms), so that a wait the other side ends soon does
        /// not pay for a wake-up, and one it does not end soon costs little: where threads
        /// outnumber cores (tests running side by side), the side polled for may not be
        /// running at all.
        let spin: Duration

        init(
            base: Base,
            window: @escaping (UInt64) -> (start: UInt64, end: UInt64),
            decoder: EventDecoder?,
            folding: Timeline.Schedule?,
            sizes: Sizes
        ) {
            self.base = base
            self.window = window
            self.decoder = decoder
            self.folding = decoder == nil ? nil : folding
            spin = .nanoseconds(min(max(sizes.recordsPerBatch, 1) * 100, 1_000_000))
            pthread_mutex_init(mutex, nil)
            pthread_cond_init(changed, nil)
            let batches = (0..<max(sizes.batchesInFlight, 1)).compactMap { _ in Batch(sizes) }
            empty = batches.count == max(sizes.batchesInFlight, 1) ? batches : []
        }

        /// Whether every batch could be had: without them the stream is read in line.
        var canReadAhead: Bool { !empty.isEmpty }

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

        /// The reader's loop: fills batches until the base stream ends, fails, passes the
        /// caller's window, or the caller goes away.
        func read() {
            var stream = base!
            base = nil
            defer {
                locked {
                    base = stream
                    readerDone = true
                    pthread_cond_broadcast(changed)
                }
            }
            guard let first = takeEmpty() else { return }
            if let decoder { decoder.withBorrowed { fill(&stream, first, $0) } } else { fill(&stream, first, nil) }
        }

        /// Fills `first` and the batches after it from `stream`, decoding with `decoder` when
        /// given, until the stream ends, fails, passes the caller's window, or the caller goes
        /// away.
        private func fill(_ stream: inout Base, _ first: Batch, _ decoder: EventDecoder.Borrowed?) {
            var filling = Filling(first)
            var bounds: (start: UInt64, end: UInt64)?
            var folding = self.folding.map { StatFolding(schedule: $0) }
            defer { folding?.deallocate() }
            while true {
                var ending: Ending?
                do throws(TraceFileError) {
                    if let r = try stream.next() {
                        let (start, end) = bounds ?? window(r.timestamp)
                        bounds = (start, end)
                        let inside = r.timestamp >= start && r.timestamp <= end
                        if !filling.append(r, decoder, &folding, inside: inside) {
                            // Full: it goes as it is, and the record starts the next batch
                            // (copied now: its payload is valid only until the next call).
                            hand(
                                filling.seal(
                                    fraction: stream.fractionRead,
                                    ending: nil,
                                    decoded: decoder != nil,
                                    folding: &folding
                                )
                            )
                            guard let fresh = takeEmpty() else { return }
                            filling = Filling(fresh)
                            _ = filling.append(r, decoder, &folding, inside: inside)
                        }
                        if r.timestamp >= start, r.timestamp > end { ending = .end }
                    } else {
                        ending = .end
                    }
                } catch {
                    ending = .failed(error)
                }
                if let ending {
                    hand(
                        filling.seal(
                            fraction: stream.fractionRead,
                            ending: ending,
                            decoded: decoder != nil,
                            folding: &folding
                        )
                    )
                    return
                }
            }
        }

        /// An empty batch, waiting for the caller to give one back; nil once it has gone.
        private func takeEmpty() -> Batch? {
            locked {
                wait { !empty.isEmpty || cancelled }
                if cancelled { return nil }
                let batch = empty.removeLast()
                batch.reuse()
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
                wait { !filled.isEmpty }
                return filled.removeFirst()
            }
        }

        /// Waits, holding `mutex`, until `ready`: polls for up to `spin` with the mutex let go
        /// between looks, then sleeps on `changed`.
        private func wait(until ready: () -> Bool) {
            guard !ready() else { return }
            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: spin)
            while !ready() {
                if clock.now < deadline {
                    pthread_mutex_unlock(mutex)
                    for _ in 0..<32 { foliotrace_spin_pause() }
                    pthread_mutex_lock(mutex)
                } else {
                    pthread_cond_wait(changed, mutex)
                }
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
    /// Whether the reader decodes (a flag: testing `shared.decoder` copied the decoder).
    private let decodes: Bool
    /// The caller's cursor in the batch it reads.
    private var batch: Batch?
    private var slots: UnsafeMutablePointer<Slot>?
    private var events: UnsafeMutablePointer<MMEvent>?
    private var arena: UnsafeMutableRawPointer?
    private var count = 0
    private var index = 0
    private var over = false

    /// Starts reading `base` ahead. `window` gives the caller's window from the first record's
    /// timestamp: the caller stops after the first record past its end that is not before its
    /// start (`TraceAnalysis`'s loop), and so does the reader. The default has no end. With a
    /// `decoder`, the reader decodes each record too (`nextDecodedBatch`); with a decoder and
    /// `foldingStats` (the caller's timeline schedule), it folds the memcg stat records the
    /// caller would only count and keeps their adjacency (`StatFolding`).
    init(
        _ base: Base,
        window: @escaping (UInt64) -> (start: UInt64, end: UInt64) = { _ in (0, .max) },
        decoder: EventDecoder? = nil,
        foldingStats schedule: Timeline.Schedule? = nil,
        sizes: Sizes = Sizes()
    ) {
        let shared = Shared(base: base, window: window, decoder: decoder, folding: schedule, sizes: sizes)
        self.shared = shared
        decodes = decoder != nil
        // Without the batches' memory or a thread (pthread_create failed), the base stream is
        // read in line.
        owner =
            shared.canReadAhead && startThread(name: "foliotrace-read", { shared.read() }) == 0 ? Owner(shared) : nil
    }

    /// Inlined into the caller's loop: the call and the copy of this struct in and out had
    /// cost more than reading the slot (a fifth of the pass's per-record work).
    @inline(__always)
    mutating func next() throws(TraceFileError) -> RawRecord? {
        if index == count {
            guard owner != nil else { return try shared.base!.next() }
            guard try nextBatch() else { return nil }
        }
        index += 1
        return slots.unsafelyUnwrapped[index - 1].record(arena.unsafelyUnwrapped)
    }

    /// Whether the reader runs on its own thread and decodes: `nextDecodedBatch` then hands
    /// its batches over.
    var decodesAhead: Bool { decodes && owner != nil }

    /// The records of the next batch and their events, read in place (only when
    /// `decodesAhead`); nil at the end (an error is thrown once). The batch stays valid until
    /// the next call; the records left in the current one are skipped.
    ///
    /// Handing a batch over in place is for `TraceAnalysis`'s loop: returning each record and
    /// its event as an optional tuple, as this stream's `nextDecoded` did, built and took
    /// apart 104 bytes a record, about 40 of the loop's 105 instructions a record on the scale
    /// capture.
    @inline(__always)
    mutating func nextDecodedBatch() throws(TraceFileError) -> DecodedBatch? {
        index = count
        guard try nextBatch() else { return nil }
        index = count
        let batch = batch.unsafelyUnwrapped
        return DecodedBatch(
            slots: slots.unsafelyUnwrapped,
            events: events.unsafelyUnwrapped,
            arena: arena.unsafelyUnwrapped,
            count: count,
            fraction: batch.fraction,
            foldedIDs: batch.foldedIDs,
            foldedCounts: batch.foldedCounts,
            foldedKinds: batch.foldedKinds,
            trailingFolded: batch.trailingFolded,
            trailingLast: batch.trailingLast
        )
    }

    /// A batch's records and events as the reader stored them.
    struct DecodedBatch {
        let slots: UnsafeMutablePointer<Slot>
        let events: UnsafeMutablePointer<MMEvent>
        let arena: UnsafeMutableRawPointer
        let count: Int
        /// The base stream's `fractionRead` after the batch's last record.
        let fraction: Double
        /// The stat records the reader folded into the batch (`Batch.foldedIDs`), and after
        /// its last record.
        let foldedIDs: UnsafeMutablePointer<UInt16>
        let foldedCounts: UnsafeMutablePointer<UInt64>
        let foldedKinds: Int
        let trailingFolded: UInt32
        let trailingLast: UInt64

        @inline(__always)
        func record(_ i: Int) -> RawRecord { slots[i].record(arena) }
    }

    /// Moves to the next batch with records; false at the end (an error is thrown once).
    @inline(never)
    private mutating func nextBatch() throws(TraceFileError) -> Bool {
        while index == count {
            if over { return false }
            if let ending = batch?.ending {
                over = true
                if case .failed(let error) = ending { throw error }
                return false
            }
            let next = shared.next(after: batch)
            (batch, slots, events, arena, count, index) = (next, next.slots, next.events, next.arena, next.count, 0)
        }
        return true
    }

    /// The base stream once the reader has stopped: its state where the caller stopped.
    var finished: Base {
        if owner != nil { shared.waitForReader(cancel: !over) }
        return shared.base!
    }

    var lostEvents: [LostEvents] { finished.lostEvents }
    var fractionRead: Double { owner == nil ? shared.base!.fractionRead : batch?.fraction ?? 0 }
    var damageNotes: [String] { finished.damageNotes }
}

/// Records with their decoded events, decoded in line, as `TraceAnalysis`'s serial loop reads
/// them (a `ReadAheadStream` whose reader decodes is read by batches: `nextDecodedBatch`).
protocol DecodedRecords: RecordStream {
    mutating func nextDecoded(_ decoder: EventDecoder) throws(TraceFileError) -> (RawRecord, MMEvent)?
}

extension DecodedRecords {
    @inline(__always)
    mutating func nextDecoded(_ decoder: EventDecoder) throws(TraceFileError) -> (RawRecord, MMEvent)? {
        guard let r = try next() else { return nil }
        return (r, decoder.decode(r))
    }
}

extension MergedStream: DecodedRecords {}
extension PerfRecordStream: DecodedRecords {}
extension ReadAheadStream: DecodedRecords {}
