import Testing

@testable import FolioTraceKit

/// The reader folds memcg stat records into counts when `TraceAnalysis` reads ahead
/// (`StatFolding`): only stat records, none the timeline would sample, none after a loss, and
/// every record it hands over carries the stat just before it on its CPU.
/// `ReadAheadTests.analyzeAsInLine` compares the analyses themselves; this checks the
/// hand-over record by record.
@Suite struct StatFoldingTests {
    @Test(arguments: ["linux-6.18/healthy-mix-record.dat", "linux-6.18/lost-events.dat"])
    func foldsOnlyStatsTheEngineWouldOnlyCount(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try TraceSource.traceDat(file).catalog(), path: path)
        for sizes in ReadAheadTests.sizes {
            var ahead = ReadAheadStream(
                try file.mergedRecords(),
                decoder: decoder,
                foldingStats: Timeline().schedule,
                sizes: sizes
            )
            #expect(ahead.decodesAhead)
            var handed: [(slot: ReadAheadStream<MergedStream>.Slot, eventID: UInt16, stat: Bool)] = []
            var foldedByID: [UInt16: UInt64] = [:]
            var trailing: UInt64 = 0
            while let batch = try ahead.nextDecodedBatch() {
                for k in 0..<batch.foldedKinds { foldedByID[batch.foldedIDs[k], default: 0] += batch.foldedCounts[k] }
                for i in 0..<batch.count {
                    handed.append((batch.slots[i], batch.record(i).eventID, batch.events[i].memcgStat != nil))
                }
                trailing += UInt64(batch.trailingFolded)
            }
            let folded = handed.reduce(0) { $0 + UInt64($1.slot.folded) } + trailing

            // In line: every record, the stat just before it (the engine's rule), and the
            // records a timeline samples.
            var serial = try file.mergedRecords()
            var rows = [StatMark](repeating: .none, count: TraceLimits.cpus)
            var schedule = Timeline().schedule
            var next = 0
            var foldedHere: UInt32 = 0
            var (stats, losses, amiss) = (0, 0, 0)
            var foldedIDs: [UInt16: UInt64] = [:]
            while let r = try serial.next() {
                let event = decoder.decode(r)
                if r.missedEvents != 0 { losses += 1 }
                let previous = StatAdjacency.step(&rows, r, event.memcgStat)
                let sampled = r.timestamp >= schedule.due
                if event.memcgStat != nil { stats += 1 }
                let slot = next < handed.count ? handed[next].slot : nil
                let sameID = next < handed.count && handed[next].eventID == r.eventID
                let isNext = sameID && slot?.timestamp == r.timestamp && slot?.cpu == r.cpu
                let handedHere = isNext && slot?.folded == foldedHere
                if event.memcgStat != nil, !sampled, r.missedEvents == 0, !handedHere {
                    foldedHere += 1  // folded: a stat record no sample or loss needed
                    foldedIDs[r.eventID, default: 0] += 1
                    continue
                }
                // Handed over: in order, after the stats folded before it, with its adjacency.
                if !handedHere || slot?.previousStat != previous { amiss += 1 }
                if sampled { _ = schedule.took(r.timestamp) }
                next += 1
                foldedHere = 0
            }
            #expect(amiss == 0 && next == handed.count, "\(sizes): \(amiss) amiss, \(next) of \(handed.count)")
            #expect(UInt64(foldedHere) == trailing)
            #expect(foldedIDs == foldedByID)
            #expect(folded > UInt64(stats) / 2, "\(folded) of \(stats) stat records folded")
            #expect(handed.contains { $0.stat }, "stat records the timeline samples are handed over")
            if fixture.contains("lost") { #expect(losses > 0) }
        }
    }
}
