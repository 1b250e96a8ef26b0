import Testing

@testable import FolioTraceKit

/// The engine's tables are bounded by live folios and by the memory the trace touches, not by
/// the trace's length (DESIGN.md: memory flat as the trace grows): each checked by what the
/// tables hold after waves of folios come and go, not by timing or the resident set.
@Suite struct EngineMemoryTests {
    typealias Records = EngineTransitionTests.Records

    func engine() -> LifecycleEngine {
        LifecycleEngine(catalog: EngineTransitionTests.catalog, savedCommands: [7: "task"])
    }

    /// Allocates `n` folios of `order` from `base`, then frees them all.
    func wave(_ e: inout LifecycleEngine, _ rs: Records, base: UInt64, n: Int, order: UInt32, at t: UInt64) {
        let step = UInt64(1) << UInt64(order)
        for i in 0..<UInt64(n) {
            e.handle(
                rs.record(t + i),
                .pageAlloc(PageAlloc(pfn: base + i * step, order: order, gfpFlags: 0, migratetype: 0))
            )
        }
        for i in 0..<UInt64(n) {
            e.handle(rs.record(t + 10_000 + i), .pageFree(PageFree(pfn: base + i * step, order: order)))
        }
    }

    @Test func folioSlotsPeakWithLiveFoliosNotWithGenerations() {
        let rs = Records()
        var e = engine()
        for k in 0..<20 {
            wave(&e, rs, base: UInt64(k) * 1_000_000, n: 1000, order: UInt32(k % 3), at: UInt64(k) * 100_000)
            #expect(e.folios.count == 0 && e.live.count == 0)
            // Every large folio has gone: the index of their blocks is empty again.
            #expect(e.largeBlocks.count == 0)
        }
        #expect(e.folios.peak == 1000)
        #expect(e.finish().summary.generations == 20_000)
    }

    @Test func headTableGrowsWithDistinctPfnsNotWithTheTrace() {
        let rs = Records()
        var e = engine()
        wave(&e, rs, base: 4096, n: 1000, order: 0, at: 0)
        let capacity = e.live.capacity
        for k in 1..<20 { wave(&e, rs, base: 4096, n: 1000, order: 0, at: UInt64(k) * 100_000) }
        // The same 1000 pfns twenty times over: one entry each, the table as it was.
        #expect(e.live.pfns == 1000 && e.live.capacity == capacity)
        let report = e.finish()
        #expect(report.summary.folios == 1000 && report.summary.generations == 20_000)
    }

    /// A pfn in a 512-pfn block where no large folio has its head still finds the head of a
    /// larger folio (order 10 spans two blocks) that covers it.
    @Test func tailOfAFolioLargerThanABlockFindsItsHead() {
        let rs = Records()
        var e = engine()
        e.handle(rs.record(10), .pageAlloc(PageAlloc(pfn: 4096, order: 10, gfpFlags: 0, migratetype: 0)))
        e.handle(rs.record(20), .pageAlloc(PageAlloc(pfn: 100_000, order: 1, gfpFlags: 0, migratetype: 0)))
        #expect(e.head(of: 4096 + 700) == 4096)
        #expect(e.head(of: 100_001) == 100_000)
        #expect(e.head(of: 4096 + 1024) == nil && e.head(of: 100_002) == nil)
        // Freed on its own, a tail page ends the folio it was part of, unseen (a split).
        e.handle(rs.record(30), .pageFree(PageFree(pfn: 4096 + 700, order: 0)))
        #expect(e.finish().summary.endedUnseen == 1)
    }
}
