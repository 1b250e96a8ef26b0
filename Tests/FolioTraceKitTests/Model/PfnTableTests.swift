import Testing

@testable import FolioTraceKit

/// `PfnTable` against `Dictionary`, including the key its buckets use to mark "empty".
@Suite struct PfnTableTests {
    /// `UInt64.max` is no real pfn, inode or cgroup id, but a damaged record can carry it:
    /// stored in a bucket it would read as empty, and a lookup of it would return whatever
    /// value the first empty bucket held.
    @Test func topKeyIsAKeyLikeAnyOther() {
        var table = PfnTable<Int32>()
        #expect(table[.max] == nil)
        table[5] = 50
        #expect(table[.max] == nil)
        table[.max] = 7
        #expect(table[.max] == 7 && table[5] == 50 && table.count == 2)
        table[.max, default: 0] += 1
        #expect(table[.max] == 8 && table.count == 2)
        #expect(Set(table.map(\.pfn)) == [5, .max])
        #expect(table.removeValue(forKey: .max) == 8)
        #expect(table[.max] == nil && table.count == 1)
        #expect(table.removeValue(forKey: .max) == nil && table.count == 1)
    }

    /// Inserts, updates and removals that grow the table and shift runs back, checked against
    /// a dictionary after every step.
    @Test func agreesWithADictionary() {
        var table = PfnTable<Int32>()
        var reference: [UInt64: Int32] = [:]
        // A fixed sequence (an LCG): a failure shows again on the next run.
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        // Dense aligned pfns, as real memory has them, plus the top key.
        let keys: [UInt64] = (0..<600).map { 0x10_0000 + $0 * 8 } + [.max, 0]
        for step in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let key = keys[Int(state >> 33) % keys.count]
            if step % 3 == 2 {
                #expect(table.removeValue(forKey: key) == reference.removeValue(forKey: key))
            } else {
                let value = Int32(step)
                table[key] = value
                reference[key] = value
            }
            #expect(table.count == reference.count)
        }
        for key in keys { #expect(table[key] == reference[key]) }
        #expect(Dictionary(uniqueKeysWithValues: table.map { ($0.pfn, $0.value) }) == reference)
    }
}
