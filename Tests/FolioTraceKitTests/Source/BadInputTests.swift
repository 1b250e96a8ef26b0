import FolioTraceKit
import Foundation
import Testing

/// Bad input gives a `TraceFileError` naming the file and the problem, never a crash.
@Suite struct BadInputTests {
    /// Opens and reads a whole trace the way `foliotrace events` does.
    private func readAll(_ path: String) throws {
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        _ = try TraceInventory(file: file, decoder: decoder)
    }

    private func problem(_ path: String) -> TraceFileError? {
        do {
            try readAll(path)
            return nil
        } catch let e as TraceFileError {
            return e
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func missingFile() {
        let e = problem("/nonexistent/trace.dat")
        #expect(e?.path == "/nonexistent/trace.dat")
        #expect(e?.description == "/nonexistent/trace.dat: cannot open: No such file or directory")
    }

    @Test func notATrace() {
        let path = Fixtures.packageRoot.appendingPathComponent("Package.swift").path
        #expect(problem(path)?.problem == .notATrace)
    }

    @Test func emptyFile() throws {
        let dir = try Fixtures.scratch("empty")
        let path = dir.appendingPathComponent("empty.dat").path
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        #expect(problem(path)?.problem == .notATrace)
    }

    /// Copies cut anywhere before the end of the last CPU's data fail. (Bytes after it, such
    /// as v7's strings section of section descriptions, are not needed to read the events;
    /// `trace-cmd report` ignores their loss too.)
    @Test(arguments: Fixtures.traces)
    func truncatedCopiesFail(_ fixture: String) throws {
        let dataEnd =
            try TraceFile(path: Fixtures.path(fixture)).buffers.flatMap(\.cpus).map { Int($0.offset + $0.size) }.max()
            ?? 0
        let dir = try Fixtures.scratch("cut")
        for length in [4, 12, 40, 300, dataEnd / 3, dataEnd / 2, dataEnd - 100, dataEnd - 1] where length > 0 {
            let path = try CorruptCopies.truncated(fixture, at: length, in: dir)
            let e = problem(path)
            #expect(e != nil, "\(fixture) cut at \(length) was read without an error")
            #expect(e?.path == path)
        }
    }

    @Test func unknownVersion() throws {
        let fixture = try #require(Fixtures.traces.first)
        let path = try CorruptCopies.withVersion(fixture, UInt8(ascii: "9"), in: try Fixtures.scratch("version"))
        #expect(problem(path)?.problem == .unsupportedVersion("9"))
        #expect(problem(path)?.description.contains("unsupported trace.dat version 9") == true)
    }

    @Test func eventFormatLackingAField() throws {
        let fixture = try #require(CorruptCopies.version6Fixture, "a version-6 fixture")
        let path = try #require(
            try CorruptCopies.withoutField(
                fixture,
                event: "mm_page_free",
                field: "pfn",
                in: try Fixtures.scratch("field")
            )
        )
        #expect(problem(path)?.problem == .missingField(event: "kmem:mm_page_free", field: "pfn"))
    }
}
