import FolioTraceKit
import Foundation

/// The real captures under fixtures/, found from this file's path (no bundles).
enum Fixtures {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = packageRoot.appendingPathComponent("fixtures")

    /// Every trace.dat fixture, as paths relative to fixtures/ (stable test argument names).
    static let traces: [String] = {
        guard let e = FileManager.default.enumerator(atPath: directory.path) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".dat") && !$0.hasPrefix("capture/") }.sorted()
    }()

    static func path(_ relative: String) -> String { directory.appendingPathComponent(relative).path }

    /// A new scratch directory for derived (corrupt, truncated) copies of fixtures: unique
    /// per call, because parameterized tests run in parallel and a shared directory removed by
    /// one case would pull files from under another case's memory map.
    static func scratch(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("foliotrace-tests-\(getpid())-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A fixture opened for decoding, with its record count: the setup of the tests that feed
/// the engine only part of a trace.
struct DecodedFixture {
    let file: TraceFile
    let catalog: EventCatalog
    let decoder: EventDecoder
    let records: Int

    init(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        file = try TraceFile(path: path)
        catalog = try EventCatalog(file: file)
        decoder = try EventDecoder(catalog: catalog, path: path)
        var count = 0
        var merged = try file.mergedRecords()
        while try merged.next() != nil { count += 1 }
        records = count
    }
}
