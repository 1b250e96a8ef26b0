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

    /// A copy cut anywhere is never read as if it were whole: a cut in the metadata is an
    /// error naming the file; a cut in the CPU data is read as far as it goes (fewer records
    /// than the whole file) and `damage` says where the data ends.
    @Test(arguments: Fixtures.traces)
    func truncatedCopiesAreErrorsOrDamage(_ fixture: String) throws {
        let whole = try TraceFile(path: Fixtures.path(fixture))
        let dataEnd = whole.buffers.flatMap(\.cpus).map { Int($0.offset + $0.size) }.max() ?? 0
        let wholeRecords = try records(Fixtures.path(fixture))
        let dir = try Fixtures.scratch("cut")
        for length in [4, 12, 40, 300, dataEnd / 3, dataEnd / 2, dataEnd - 100, dataEnd - 1] where length > 0 {
            let path = try CorruptCopies.truncated(fixture, at: length, in: dir)
            do {
                let file = try TraceFile(path: path)
                var stream = try file.mergedRecords()
                var n = 0
                while try stream.next() != nil { n += 1 }
                let damage = file.damage + stream.damageNotes
                #expect(!damage.isEmpty, "\(fixture) cut at \(length) was read as whole")
                #expect(n <= wholeRecords, "\(fixture) cut at \(length): \(n) records, whole \(wholeRecords)")
            } catch {
                #expect(error.path == path)
            }
        }
    }

    private func records(_ path: String) throws -> Int {
        var stream = try TraceFile(path: path).mergedRecords()
        var n = 0
        while try stream.next() != nil { n += 1 }
        return n
    }

    @Test func unknownVersion() throws {
        let fixture = try #require(Fixtures.traces.first)
        let path = try CorruptCopies.withVersion(fixture, UInt8(ascii: "9"), in: try Fixtures.scratch("version"))
        #expect(problem(path)?.problem == .unsupportedVersion("9"))
        #expect(problem(path)?.description.contains("unsupported trace.dat version 9") == true)
    }

    /// An older kernel's format without a field foliotrace models: the file is read, every
    /// record still counted, and the event named as not modelled with the analyses it feeds.
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
        #expect(problem(path) == nil)
        let catalog = try EventCatalog(file: try TraceFile(path: path))
        let decoder = try EventDecoder(catalog: catalog, path: path)
        let missing = try #require(decoder.unmodelled.first { $0.event == "kmem:mm_page_free" })
        #expect(missing.reason == "its format lacks the field 'pfn'")
        #expect(missing.analyses.contains("lifecycle"))
        #expect(decoder.unmodelled.count == 1)
        let id = try #require(catalog.type(named: "kmem:mm_page_free")?.id)
        #expect(!decoder.isModelled(id))
        let original = try TraceInventory(
            file: try TraceFile(path: Fixtures.path(fixture)),
            decoder: try EventDecoder(
                catalog: try EventCatalog(file: try TraceFile(path: Fixtures.path(fixture))),
                path: fixture
            )
        )
        let cut = try TraceInventory(file: try TraceFile(path: path), decoder: decoder)
        #expect(cut.total == original.total)
        #expect(cut.countsByID[Int(id)] == original.countsByID[Int(id)])
        #expect(cut.countsByID[Int(id)] > 0)
        // The lifecycle needs frees: analyze says it cannot judge what rests on them.
        let analysis = try TraceAnalysis(path: path)
        #expect(analysis.unmodelled.map(\.event) == ["kmem:mm_page_free"])
        let lifecycle = try #require(analysis.coverage.first { $0.rule.id == RuleID.chargeLifecycleViolation })
        #expect(!lifecycle.runnable)
        #expect(lifecycle.missing.contains("kmem:mm_page_free"))
    }
}

/// Numbers in records that no kernel writes, found by fuzzing: they must not trap.
@Suite struct DamagedRecordTests {
    /// An mm_page_alloc whose pfn is near the top of the number range (a damaged record: real
    /// pfns stay below 2^40) and whose order is 3: the folio's span would overflow (fuzz crasher
    /// tracedat-crash-81459fde, LifecycleEngine.begin).
    @Test func pfnAtTheTopOfTheRange() throws {
        let fixture = try #require(CorruptCopies.version6Fixture)
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let alloc = try #require(catalog.type(named: "kmem:mm_page_alloc"))
        let pfnField = try #require(alloc.field("pfn"))
        let orderField = try #require(alloc.field("order"))
        var records = try file.mergedRecords()
        var payload: Data?
        while payload == nil, let r = try records.next() {
            if r.eventID == alloc.id { payload = Data(r.payload) }
        }
        let original = try #require(payload)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let at = try #require(data.range(of: original)).lowerBound
        withUnsafeBytes(of: (UInt64.max - 2).littleEndian) {
            data.replaceSubrange((at + pfnField.offset)..<(at + pfnField.offset + 8), with: $0)
        }
        data[at + orderField.offset] = 3
        let copy = try Fixtures.scratch("toppfn").appendingPathComponent("top-pfn.dat").path
        try data.write(to: URL(fileURLWithPath: copy))
        let r = try CommandLineTests.run(["analyze", "--quiet", copy])
        #expect(r.status == 0 || r.status == 1, "\(r.stderr.prefix(300))")
    }
}
