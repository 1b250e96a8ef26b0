import Testing

@testable import FolioTraceKit

/// The folio slots' layout (a state in one cache line) and their value semantics.
@Suite struct FolioSlotsTests {
    /// Two states to a line, each starting at a multiple of 32 bytes from a line-aligned
    /// segment: no state straddles two lines.
    @Test func aStateIsHalfACacheLineAndNeverStraddlesTwo() {
        #expect(MemoryLayout<LiveFolio>.size == 32 && MemoryLayout<LiveFolio>.stride == 32)
        #expect(MemoryLayout<FolioDetails>.stride <= 56)
        var slots = FolioSlots()
        for i in 0..<3000 {
            let slot = slots.add(LiveFolio(order: 0, firstSeen: UInt64(i)), FolioDetails(generation: 0))
            #expect(slot == Int32(i))
        }
        for slot in stride(from: Int32(0), to: 3000, by: 1000) {
            slots.withState(slot) { #expect(UInt(bitPattern: $0) % 64 == 0 || UInt(bitPattern: $0) % 64 == 32) }
        }
    }

    /// Freed slots are reused last freed first, and the count and peak follow.
    @Test func freedSlotsAreReused() {
        var slots = FolioSlots()
        for i in 0..<5 { _ = slots.add(LiveFolio(order: 0, firstSeen: UInt64(i + 1)), FolioDetails(generation: 7)) }
        slots.remove(1)
        slots.remove(3)
        #expect(slots.count == 3 && slots.peak == 5)
        #expect(slots.add(LiveFolio(order: 1, firstSeen: 9), FolioDetails(generation: 8)) == 3)
        #expect(slots.add(LiveFolio(order: 2, firstSeen: 10), FolioDetails(generation: 9)) == 1)
        #expect(slots.add(LiveFolio(order: 3, firstSeen: 11), FolioDetails(generation: 10)) == 5)
        #expect(slots[3].order == 1 && slots[details: 1].generation == 9 && slots[4].firstSeen == 5)
        #expect(slots.count == 6 && slots.peak == 6)
    }

    /// A copy is a value: changing one leaves the other as it was, across segment boundaries.
    @Test func aCopyIsAValue() {
        var a = FolioSlots()
        for i in 0..<(FolioSlots.segmentSize + 10) {
            _ = a.add(LiveFolio(order: 0, firstSeen: UInt64(i)), FolioDetails(generation: UInt32(i)))
        }
        var b = a
        b[5].firstSeen = 99
        b[details: Int32(FolioSlots.segmentSize + 3)].generation = 77
        b.remove(7)
        #expect(a[5].firstSeen == 5 && b[5].firstSeen == 99)
        #expect(a[details: Int32(FolioSlots.segmentSize + 3)].generation == UInt32(FolioSlots.segmentSize + 3))
        #expect(a.count == FolioSlots.segmentSize + 10 && b.count == FolioSlots.segmentSize + 9)
        // Growing past the directory's first capacity keeps every slot.
        for i in 0..<(20 * FolioSlots.segmentSize) {
            _ = a.add(LiveFolio(order: 0, firstSeen: UInt64(i)), FolioDetails(generation: 1))
        }
        #expect(
            a[5].firstSeen == 5 && a[Int32(FolioSlots.segmentSize + 3)].firstSeen == UInt64(FolioSlots.segmentSize + 3)
        )
        #expect(b[details: 8].generation == 8)
    }
}
