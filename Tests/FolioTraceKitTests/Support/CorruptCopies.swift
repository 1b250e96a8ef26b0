import Foundation

/// Corrupt and truncated copies of real fixtures, made at test time (never committed).
enum CorruptCopies {
    /// A fixture written as trace.dat version 6 (uncompressed, so its format text can be edited).
    static var version6Fixture: String? { Fixtures.traces.first { $0.contains("v6") } }

    /// The first bytes of a real fixture.
    static func truncated(_ fixture: String, at length: Int, in dir: URL) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        let url = dir.appendingPathComponent("cut-\(length)-" + fixture.replacingOccurrences(of: "/", with: "_"))
        try data.prefix(length).write(to: url)
        return url.path
    }

    /// A copy whose version string says `version` instead.
    static func withVersion(_ fixture: String, _ version: UInt8, in dir: URL) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        data[10] = version
        let url = dir.appendingPathComponent("version-" + fixture.replacingOccurrences(of: "/", with: "_"))
        try data.write(to: url)
        return url.path
    }

    /// A copy of a v6 fixture whose `event` format names `field` differently (same length, so
    /// every offset in the file stays valid): the format then lacks that field.
    static func withoutField(_ fixture: String, event: String, field: String, in dir: URL) throws -> String? {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        guard let formatStart = data.range(of: Data("name: \(event)\n".utf8)),
            let fieldRange = data.range(of: Data(" \(field);".utf8), in: formatStart.upperBound..<data.count)
        else { return nil }
        data[fieldRange.upperBound - 2] = UInt8(ascii: "X")
        let url = dir.appendingPathComponent("nofield-" + fixture.replacingOccurrences(of: "/", with: "_"))
        try data.write(to: url)
        return url.path
    }
}
