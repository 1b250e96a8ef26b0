import CPrefetch

/// The states of the live folios, by slot: each a `LiveFolio` (what every event reads) and a
/// `FolioDetails` (what reports read) at the same slot of two parallel sets of segments.
///
/// Segments never move (in one array, growing past its capacity copied every live folio into
/// a buffer twice the size while the old one was still resident: on the 20-million-event scale
/// capture that copy set the peak resident set, docs/performance.md). A `LiveFolio` segment is
/// aligned to 64 bytes, so each 32-byte state sits in one cache line. Slots of ended
/// generations are reused, last freed first, so the slots in use peak with the live folios.
/// The free slots are a stack of their own, 16 to a cache line: kept in the freed states
/// themselves (a link in each), taking a slot read the line of a state freed long before,
/// which missed the cache on most allocations of the scale capture (8% of the engine's
/// samples).
///
/// A value, like the engine that holds it: a copy shares the segments until one of the two
/// changes, which copies them first (`isKnownUniquelyReferenced`, once a change, where the
/// nested arrays it replaces checked two buffers). The segments' addresses are kept in this
/// struct, not read through the class: a class's stored `var` is checked for exclusive access
/// at run time on every access (HeadTable has the same note).
struct FolioSlots {
    static let segmentShift = 10
    static let segmentSize = 1 << segmentShift
    static let lineBytes = 64

    /// One segment's two parts.
    struct Segment {
        var states: UnsafeMutablePointer<LiveFolio>
        var details: UnsafeMutablePointer<FolioDetails>
    }

    /// Owns the segments, the directory that lists them and the stack of free slots: frees
    /// them with the last copy of the table.
    final class Storage {
        let directory: UnsafeMutablePointer<Segment>
        let capacity: Int
        /// Segments made (at most `capacity`).
        var count = 0
        /// Room for every slot of the segments that `capacity` allows.
        let freeSlots: UnsafeMutablePointer<Int32>

        init(capacity: Int) {
            self.capacity = capacity
            directory = .allocate(capacity: capacity)
            freeSlots = .allocate(capacity: capacity * FolioSlots.segmentSize)
        }

        deinit {
            for i in 0..<count {
                UnsafeMutableRawPointer(directory[i].states).deallocate()
                directory[i].details.deallocate()
            }
            directory.deallocate()
            freeSlots.deallocate()
        }

        /// Appends a new segment of uninitialized slots (both parts are trivial types: their
        /// slots are written before they are read).
        func makeSegment() {
            let states = UnsafeMutableRawPointer.allocate(
                byteCount: FolioSlots.segmentSize * MemoryLayout<LiveFolio>.stride,
                alignment: FolioSlots.lineBytes
            ).bindMemory(to: LiveFolio.self, capacity: FolioSlots.segmentSize)
            directory[count] = Segment(
                states: states,
                details: .allocate(capacity: FolioSlots.segmentSize)
            )
            count += 1
        }

        /// A copy with the same first `slots` slots and `free` free slots, in memory of its
        /// own, for a table about to change while another copy shares this one.
        func copy(capacity: Int, slots: Int, free: Int) -> Storage {
            let c = Storage(capacity: capacity)
            c.freeSlots.update(from: freeSlots, count: free)
            for i in 0..<count {
                c.makeSegment()
                let n = min(FolioSlots.segmentSize, slots - i * FolioSlots.segmentSize)
                guard n > 0 else { continue }
                c.directory[i].states.update(from: directory[i].states, count: n)
                c.directory[i].details.update(from: directory[i].details, count: n)
            }
            return c
        }

        /// Hands the segments to a larger directory (this storage, uniquely held, is dropped
        /// after); the copy's free-slot stack is empty, as a table grows only when it has no
        /// free slot.
        func grown(capacity: Int) -> Storage {
            let c = Storage(capacity: capacity)
            c.directory.update(from: directory, count: count)
            c.count = count
            count = 0
            return c
        }
    }

    private var storage = Storage(capacity: 4)
    /// `storage.directory` and `storage.freeSlots`, read here on every access.
    private var directory: UnsafeMutablePointer<Segment>
    private var freeSlots: UnsafeMutablePointer<Int32>
    /// Slots handed out so far: the most folios live at once.
    private(set) var peak = 0
    /// Free slots, on top of the `freeSlots` stack.
    private var free = 0

    init() { (directory, freeSlots) = (storage.directory, storage.freeSlots) }

    /// Slots in use.
    var count: Int { peak - free }

    @inline(__always)
    private func segment(_ slot: Int32) -> Segment { directory[Int(slot) >> Self.segmentShift] }

    @inline(__always)
    private static func offset(_ slot: Int32) -> Int { Int(slot) & (segmentSize - 1) }

    /// Copies the segments when another copy of the table shares them.
    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(capacity: storage.capacity, slots: peak, free: free)
            (directory, freeSlots) = (storage.directory, storage.freeSlots)
        }
    }

    /// The state of the folio in `slot`.
    subscript(slot: Int32) -> LiveFolio {
        @inline(__always) get { segment(slot).states[Self.offset(slot)] }
        @inline(__always) _modify {
            makeUnique()
            yield &segment(slot).states[Self.offset(slot)]
        }
    }

    /// The details of the folio in `slot`.
    subscript(details slot: Int32) -> FolioDetails {
        @inline(__always) get { segment(slot).details[Self.offset(slot)] }
        @inline(__always) _modify {
            makeUnique()
            yield &segment(slot).details[Self.offset(slot)]
        }
    }

    /// Asks the cache for the state and details of the folio in `slot` without waiting for
    /// them (`LifecycleEngine.prefetch`).
    @inline(__always)
    func prefetch(_ slot: Int32) {
        let segment = segment(slot)
        foliotrace_prefetch(segment.states + Self.offset(slot))
        foliotrace_prefetch(segment.details + Self.offset(slot))
    }

    /// `prefetch` of the slot `add` hands out next, when it reuses a free one.
    @inline(__always)
    func prefetchNextFree() {
        if free > 0 { prefetch(freeSlots[free - 1]) }
    }

    /// Stores a folio in a free slot and returns the slot.
    mutating func add(_ state: LiveFolio, _ details: FolioDetails) -> Int32 {
        makeUnique()
        let slot: Int32
        if free > 0 {
            free -= 1
            slot = freeSlots[free]
        } else {
            if peak & (Self.segmentSize - 1) == 0 {
                if storage.count == storage.capacity {
                    storage = storage.grown(capacity: storage.capacity * 2)
                    (directory, freeSlots) = (storage.directory, storage.freeSlots)
                }
                storage.makeSegment()
            }
            slot = Int32(peak)
            peak += 1
        }
        let s = segment(slot)
        (s.states + Self.offset(slot)).initialize(to: state)
        (s.details + Self.offset(slot)).initialize(to: details)
        return slot
    }

    /// Calls `body` with the address of the state in `slot` (for the layout tests).
    func withState<R>(_ slot: Int32, _ body: (UnsafePointer<LiveFolio>) -> R) -> R {
        body(segment(slot).states + Self.offset(slot))
    }

    /// Frees `slot` for a later generation.
    mutating func remove(_ slot: Int32) {
        makeUnique()
        freeSlots[free] = slot
        free += 1
    }
}
