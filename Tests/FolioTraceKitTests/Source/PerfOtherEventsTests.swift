import FolioTraceKit
import Foundation
import Testing

/// perf.data files of events other than memory tracepoints (capture/host-perf-other.sh):
/// software events, a uprobe, pipe mode without event descriptions, a tracepoint that never
/// fired. They are read, not refused, and every sample is counted under the name perf gives
/// it; the expected counts are `perf script`'s, written down at capture time.
@Suite struct PerfOtherEventsTests {
    @Test func fixturesArePresent() {
        #expect(PerfFixtures.others.count >= 4, "fixtures/linux-6.18/perf-other should hold four captures")
    }

    private func inventory(_ path: String) throws -> (TraceSource, TraceInventory) {
        let source = try TraceSource(path: path)
        let decoder = try EventDecoder(catalog: try source.catalog(), path: path)
        return (source, try TraceInventory(source: source, decoder: decoder))
    }

    /// Samples per event name equal `perf script`'s: tracepoints by their formats, the
    /// others by the file's event descriptions or, in pipe mode, by perf's derived names.
    @Test(arguments: PerfFixtures.others)
    func countsMatchPerfScript(_ fixture: String) throws {
        let expected = try PerfFixtures.truthCounts(fixture)
        let total = try #require(try PerfFixtures.truth(fixture).lines.first { $0.hasPrefix("  ALL ") })
        let (source, inv) = try inventory(Fixtures.path(fixture))
        let catalog = try source.catalog()
        let ours = Dictionary(uniqueKeysWithValues: inv.countsByName(catalog).map { ($0.name, $0.count) })
            .merging(inv.otherEvents) { $0 + $1 }
        #expect(ours == expected)
        #expect(inv.total == Truth.numbers(total).last)
        #expect(inv.perfDamage?.isEmpty == true, "\(String(describing: inv.perfDamage))")
    }

    /// A file without decodable tracepoints says why, as a property (reports name it); one
    /// with them (the uprobe is a tracepoint with a format; migrate's never fired) does not.
    @Test(arguments: PerfFixtures.others)
    func tracepointGapIsKnown(_ fixture: String) throws {
        let file = try PerfFile(path: Fixtures.path(fixture))
        let hasTracepoints = try PerfFixtures.truth(fixture).lines.contains { $0.contains("type = 2,") }
        if hasTracepoints {
            #expect(file.tracepointGap == nil, "\(String(describing: file.tracepointGap))")
        } else {
            let gap = try #require(file.tracepointGap)
            #expect(gap.contains("no tracepoint event was recorded") && gap.contains("cpu-clock"))
        }
    }

    /// `analyze` reads them all: no error for a file without memory events.
    @Test(arguments: PerfFixtures.others)
    func analysisRuns(_ fixture: String) throws {
        let analysis = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(analysis.cpus == 2)
    }

    /// A tracepoint event with its format and no sample: zero records, the event known as on.
    @Test func tracepointWithoutSamples() throws {
        let fixture = try #require(PerfFixtures.others.first { $0.contains("no-samples") })
        let (source, inv) = try inventory(Fixtures.path(fixture))
        #expect(inv.total == 0)
        #expect(try source.enabledEvents(source.catalog()) == ["migrate:mm_migrate_pages"])
    }

    /// Pipe mode has no completeness marker; file mode has one (the header's data size).
    @Test(arguments: PerfFixtures.others)
    func completenessVerifiableOnlyInFileMode(_ fixture: String) throws {
        let file = try PerfFile(path: Fixtures.path(fixture))
        #expect(file.completenessVerifiable == !file.isPipe)
        #expect(file.isPipe == fixture.contains("-pipe"))
    }
}
