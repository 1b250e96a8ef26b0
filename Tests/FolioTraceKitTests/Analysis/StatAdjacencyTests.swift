import Testing

@testable import FolioTraceKit

/// Exact attribution reads the memcg stat record just before a folio's LRU insertion or
/// page-cache add on the same CPU (`StatAdjacency`). A file's analysis keeps that adjacency
/// beside its record loop, and takes stat records by a path of their own
/// (`WindowedRun.takeStat`); a live session leaves it to the engine (`LifecycleEngine.handle`
/// record by record). Both must attribute the same folios to the same memcgs, and count the
/// same records, including across losses (which end every CPU's adjacency).
@Suite struct StatAdjacencyTests {
    @Test(arguments: ["linux-6.18/healthy-mix-record.dat", "linux-6.18/lost-events.dat"])
    func fileLoopAttributesAsTheEngine(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let options = LifecycleEngine.Options(keepLifecycles: true)
        let analysis = try TraceAnalysis(path: path, options: options)

        let file = try TraceFile(path: path)
        let source = TraceSource.traceDat(file)
        let catalog = try source.catalog()
        var pass = AnalysisPass(
            decoder: try EventDecoder(catalog: catalog, path: path),
            savedCommands: source.savedCommands,
            cgroupPaths: source.cgroupPaths,
            enabled: source.enabledEvents(catalog),
            options: options
        )
        var records = try file.mergedRecords()
        var losses = 0
        while let r = try records.next() {
            if r.missedEvents != 0 { losses += 1 }
            pass.handle(r)
        }
        let engine = pass.engine.finish()

        func exact(_ report: LifecycleReport) -> [String] {
            (report.generations + report.live).filter { $0.attribution == .exact }
                .map { "\($0.pfn)/\($0.generation) memcg \($0.memcg ?? 0)" }.sorted()
        }
        func charged(_ report: LifecycleReport) -> [String] {
            report.memcgs.map { "\($0.id): \($0.generations) generations, \($0.pagesCharged) pages" }
        }
        let attributed = exact(engine)
        #expect(attributed.count > 20, "too few exact attributions to prove anything: \(attributed.count)")
        #expect(exact(analysis.report) == attributed)
        #expect(charged(analysis.report) == charged(engine))
        #expect(analysis.report.summary.records == engine.summary.records)
        #expect(analysis.report.summary.typedEvents == engine.summary.typedEvents)
        if fixture.contains("lost") { #expect(losses > 0) }
    }
}
