/// The states of the live folios, by slot: each a `LiveFolio` (what every event reads) and a
/// `FolioDetails` (what reports read) at the same slot of two parallel sets of segments.
///
/// Segments never move (in one array, growing past its capacity copied every live folio into
/// a buffer twice the size while the old one was still resident: on the 20-million-event scale
/// capture that copy set the peak resident set, docs/performance.md). A `LiveFolio` segment is
/// aligned to 64 bytes, so each 32-byte state sits in one cache line. Slots of ended
/// generations are reused, last freed first, so the slots in use peak with the live folios; a
/// free slot holds the next free one in its `firstSeen`, so freeing and reusing a slot is two
/// stores and no array.
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

    /// Owns the segments and the directory that lists them: frees them with the last copy of
    /// the table.
    final class Storage {
        let directory: UnsafeMutablePointer<Segment>
        let capacity: Int
        /// Segments made (at most `capacity`).
        var count = 0

        init(capacity: Int) {
            self.capacity = capacity
            directory = .allocate(capacity: capacity)
        }

        deinit {
            for i in 0..<count {
                UnsafeMutableRawPointer(directory[i].states).deallocate()
                directory[i].details.deallocate()
            }
            directory.deallocate()
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

        /// A copy with the same first `slots` slots, in segments of its own, for a table about
        /// to change while another copy shares this one.
        func copy(capacity: Int, slots: Int) -> Storage {
            let c = Storage(capacity: capacity)
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
        /// after).
        func grown(capacity: Int) -> Storage {
            let c = Storage(capacity: capacity)
            c.directory.update(from: directory, count: count)
            c.count = count
            count = 0
            return c
        }
    }

    private var storage = Storage(capacity: 16)
    /// `storage.directory`, read here on every access.
    private var directory: UnsafeMutablePointer<Segment>
    /// Slots handed out so far: the most folios live at once.
    private(set) var peak = 0
    /// Slots in use.
    private(set) var count = 0
    /// The last freed slot, -1 when none is free.
    private var freeSlot: Int32 = -1

    init() { directory = storage.directory }

    @inline(__always)
    private func segment(_ slot: Int32) -> Segment { directory[Int(slot) >> Self.segmentShift] }

    @inline(__always)
    private static func offset(_ slot: Int32) -> Int { Int(slot) & (segmentSize - 1) }

    /// Copies the segments when another copy of the table shares them.
    @inline(__always)
    private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(capacity: storage.capacity, slots: peak)
            directory = storage.directory
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

    /// Stores a folio in a free slot and returns the slot.
    mutating func add(_ state: LiveFolio, _ details: FolioDetails) -> Int32 {
        makeUnique()
        let slot: Int32
        if freeSlot >= 0 {
            slot = freeSlot
            freeSlot = Int32(truncatingIfNeeded: Int64(bitPattern: self[slot].firstSeen))
        } else {
            if peak & (Self.segmentSize - 1) == 0 {
                if storage.count == storage.capacity {
                    storage = storage.grown(capacity: storage.capacity * 2)
                    directory = storage.directory
                }
                storage.makeSegment()
            }
            slot = Int32(peak)
            peak += 1
        }
        let s = segment(slot)
        (s.states + Self.offset(slot)).initialize(to: state)
        (s.details + Self.offset(slot)).initialize(to: details)
        count += 1
        return slot
    }

    /// Calls `body` with the address of the state in `slot` (for the layout tests).
    func withState<R>(_ slot: Int32, _ body: (UnsafePointer<LiveFolio>) -> R) -> R {
        body(segment(slot).states + Self.offset(slot))
    }

    /// Frees `slot` for a later generation.
    mutating func remove(_ slot: Int32) {
        makeUnique()
        segment(slot).states[Self.offset(slot)].firstSeen = UInt64(bitPattern: Int64(freeSlot))
        freeSlot = slot
        count -= 1
    }
}
