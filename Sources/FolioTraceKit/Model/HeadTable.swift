/// Every head pfn the trace has seen: how many generations it has had, and the slot of its live
/// one in `FolioSlots` if it has one. Open addressing with linear probing and a multiplicative
/// hash, as `PfnTable`.
///
/// One table, not two, because the engine asked two questions of every new generation: "is a
/// folio live here" and "which generation comes next". Kept apart (`live` by head pfn, and
/// `nextGeneration` by every head pfn ever seen) they cost three probes a folio's birth and a
/// backward-shift deletion at its end, and 24 bytes a bucket over two tables whose larger was
/// as large as this one (docs/performance.md). Here a birth is one probe, an end one probe and
/// no deletion: an ended generation's entry stays, because its pfn's next generation numbers
/// from it, and reports name folios by (pfn, generation).
///
/// An entry is a bucket of 16 bytes (pfn, slot, generations): pfn and slot sit in one cache
/// line, so a lookup touches one line instead of the two that parallel key and value arrays
/// touched.
struct HeadTable {
    /// `UInt64.max` marks an empty bucket: no pfn is that large.
    static let empty = UInt64.max
    /// A slot value that says "no live generation here".
    static let notLive: Int32 = -1

    struct Bucket {
        var pfn: UInt64
        /// The live generation's slot in `FolioSlots`, `notLive` when none.
        var slot: Int32
        /// Generations this pfn has had; the live one, if any, is the last (`generations - 1`).
        var generations: UInt32
    }

    private var buckets: [Bucket]
    private var shift: UInt64
    /// Distinct head pfns seen.
    private(set) var pfns = 0
    /// Head pfns with a live generation.
    private(set) var count = 0

    init() {
        buckets = Array(repeating: Bucket(pfn: Self.empty, slot: Self.notLive, generations: 0), count: 64)
        shift = 64 - 6
    }

    /// Buckets allocated (for the memory tests).
    var capacity: Int { buckets.count }

    @inline(__always)
    private func ideal(_ pfn: UInt64) -> Int { Int(truncatingIfNeeded: (pfn &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The bucket holding `pfn`, or the empty bucket where it would go.
    @inline(__always)
    private func bucket(_ pfn: UInt64) -> (index: Int, found: Bool) {
        buckets.withUnsafeBufferPointer { b in
            let mask = b.count - 1
            var i = ideal(pfn)
            while true {
                let k = b[i].pfn
                if k == pfn { return (i, true) }
                if k == Self.empty { return (i, false) }
                i = (i + 1) & mask
            }
        }
    }

    /// The slot of the live generation at head `pfn`, nil when none is live there.
    @inline(__always)
    subscript(pfn: UInt64) -> Int32? {
        let (i, found) = bucket(pfn)
        guard found else { return nil }
        let slot = buckets[i].slot
        return slot == Self.notLive ? nil : slot
    }

    /// Makes `slot` the live generation at `pfn` (which has none) and returns its generation
    /// number: how many generations the pfn had before.
    @discardableResult
    mutating func begin(_ pfn: UInt64, slot: Int32) -> UInt32 {
        var (i, found) = bucket(pfn)
        if !found {
            if (pfns + 1) * 10 > buckets.count * 7 {
                grow()
                i = bucket(pfn).index
            }
            buckets[i] = Bucket(pfn: pfn, slot: Self.notLive, generations: 0)
            pfns += 1
        }
        let generation = buckets[i].generations
        if buckets[i].slot == Self.notLive { count += 1 }
        buckets[i].slot = slot
        buckets[i].generations = generation &+ 1
        return generation
    }

    /// Ends the live generation at `pfn` and returns its slot, nil when none was live there.
    mutating func end(_ pfn: UInt64) -> Int32? {
        let (i, found) = bucket(pfn)
        guard found, buckets[i].slot != Self.notLive else { return nil }
        let slot = buckets[i].slot
        buckets[i].slot = Self.notLive
        count -= 1
        return slot
    }

    private mutating func grow() {
        let old = buckets
        buckets = Array(
            repeating: Bucket(pfn: Self.empty, slot: Self.notLive, generations: 0),
            count: old.count * 2
        )
        shift -= 1
        for b in old where b.pfn != Self.empty {
            let i = bucket(b.pfn).index
            buckets[i] = b
        }
    }
}

extension HeadTable: Sequence {
    /// Every live generation's (head pfn, slot), in no particular order.
    struct Iterator: IteratorProtocol {
        fileprivate let buckets: [Bucket]
        fileprivate var i = 0

        mutating func next() -> (pfn: UInt64, slot: Int32)? {
            while i < buckets.count {
                defer { i += 1 }
                let b = buckets[i]
                if b.pfn != HeadTable.empty, b.slot != HeadTable.notLive { return (b.pfn, b.slot) }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator { Iterator(buckets: buckets) }
}

/// The states of the live folios, by slot, in fixed-size segments.
///
/// Slots of ended generations are reused, so the slots in use peak with the live folios. In
/// one array, growing past its capacity copied every live folio into a buffer twice the size
/// while the old one was still resident: on the 20-million-event scale capture, 25 MiB copied
/// into a 50 MiB buffer at the moment live folios peaked, which made the peak resident set
/// (docs/performance.md). Segments never move; a new one is 4096 folios (384 KiB).
struct FolioSlots {
    static let segmentShift = 12
    static let segmentSize = 1 << segmentShift
    private var segments: [[LiveFolio]] = []
    private var freeSlots: [Int32] = []
    /// Slots handed out so far: the most folios live at once.
    private(set) var peak = 0

    /// Slots in use.
    var count: Int { peak - freeSlots.count }

    subscript(slot: Int32) -> LiveFolio {
        @inline(__always)
        _read { yield segments[Int(slot) >> Self.segmentShift][Int(slot) & (Self.segmentSize - 1)] }
        @inline(__always)
        _modify { yield &segments[Int(slot) >> Self.segmentShift][Int(slot) & (Self.segmentSize - 1)] }
    }

    /// Stores `f` in a free slot and returns the slot.
    mutating func add(_ f: LiveFolio) -> Int32 {
        if let reused = freeSlots.popLast() {
            self[reused] = f
            return reused
        }
        let slot = peak
        if slot & (Self.segmentSize - 1) == 0 {
            var segment: [LiveFolio] = []
            segment.reserveCapacity(Self.segmentSize)
            segments.append(segment)
        }
        segments[slot >> Self.segmentShift].append(f)
        peak += 1
        return Int32(slot)
    }

    /// Frees `slot` for a later generation.
    mutating func remove(_ slot: Int32) { freeSlots.append(slot) }
}
