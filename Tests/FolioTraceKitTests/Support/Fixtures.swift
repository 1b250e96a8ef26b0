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

    /// A scratch directory for derived (corrupt, truncated) copies of fixtures.
    static func scratch(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("foliotrace-tests-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
