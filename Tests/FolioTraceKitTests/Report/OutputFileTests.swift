import Foundation
import Testing

@testable import FolioTraceKit

/// `OutputFile`, `ErrorLine`, the baseline's schema check and the saturating loss totals,
/// as functions.
@Suite struct OutputFileTests {
    static func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

    /// Two writers of one file at once: the first to finish replaces it; the second finds it
    /// changed since it started and refuses, leaving the first's result whole.
    @Test func concurrentWriterIsRefusedNotLost() throws {
        let dir = try Fixtures.scratch("output-race")
        let path = dir.appendingPathComponent("r.txt").path
        let first = try OutputFile(path: path)
        let second = try OutputFile(path: path)
        try first.write("first\n")
        #expect(Self.read(path) == "first\n")
        #expect(throws: FileError.self) { try second.write("second\n") }
        #expect(Self.read(path) == "first\n")
        // And when the file existed before both: the same.
        let a = try OutputFile(path: path)
        let b = try OutputFile(path: path)
        try b.write("b\n")
        do {
            try a.write("a\n")
            Issue.record("a second writer replaced the first's output")
        } catch {
            #expect(error.problem.contains("by another process"))
        }
        #expect(Self.read(path) == "b\n")
    }

    /// Nothing committed, nothing changed: the temporary file goes with the object.
    @Test func abandonedOutputLeavesNoTrace() throws {
        let dir = try Fixtures.scratch("output-abandon")
        let path = dir.appendingPathComponent("r.txt").path
        try "kept".write(toFile: path, atomically: false, encoding: .utf8)
        var temporary = ""
        do {
            let output = try OutputFile(path: path)
            temporary = output.temporaryPath
            #expect(FileManager.default.fileExists(atPath: temporary))
            #expect(temporary.hasPrefix(dir.path + "/.r.txt.foliotrace-"))
        }
        #expect(!FileManager.default.fileExists(atPath: temporary))
        #expect(Self.read(path) == "kept")
    }

    @Test func refusesInputsAndSpecialFiles() throws {
        let dir = try Fixtures.scratch("output-refuse")
        let input = dir.appendingPathComponent("in.dat").path
        try "trace".write(toFile: input, atomically: false, encoding: .utf8)
        let link = dir.appendingPathComponent("link").path
        #expect(link.withCString { l in input.withCString { symlink($0, l) } } == 0)
        for target in [input, link] {
            #expect(throws: FileError.self) { try OutputFile(path: target, inputs: [input]) }
        }
        #expect(throws: FileError.self) { try OutputFile(path: dir.path) }
        #expect(throws: FileError.self) { try OutputFile(path: dir.appendingPathComponent("none/x").path) }
        let dangling = dir.appendingPathComponent("dangling").path
        #expect(dangling.withCString { symlink("nowhere", $0) } == 0)
        #expect(throws: FileError.self) { try OutputFile(path: dangling) }
        #expect(Self.read(input) == "trace")
    }

    // MARK: error lines

    @Test func errorLinesEscapeAndBound() {
        let raw = "bad name \u{1B}[31m\n\u{7F}\\ é \u{FFFD}"
        let line = ErrorLine.format(path: "/tmp/t.dat", reason: raw)
        #expect(line == "foliotrace: /tmp/t.dat: bad name \\x1b[31m\\x0a\\x7f\\ \\xc3\\xa9 \\xef\\xbf\\xbd")
        #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f })
        // A message the library already escaped is not escaped again.
        #expect(ErrorLine.format(path: nil, reason: line) == "foliotrace: " + line)

        let kallsyms = String(repeating: "ffffffff81000000 T _stext\n", count: 1500)
        let long = ErrorLine.format(path: "/traces/x.dat", reason: "corrupt: " + kallsyms)
        #expect(long.count <= ErrorLine.limit && long.hasPrefix("foliotrace: /traces/x.dat: corrupt: ffff"))
        #expect(long.hasSuffix("...") && !long.contains("\n"))

        // A long path keeps its start and its file name; the reason still shows.
        let deep = "/" + String(repeating: "very-long-directory/", count: 40) + "trace.dat"
        let named = ErrorLine.format(path: deep, reason: "truncated: the header")
        #expect(named.count <= ErrorLine.limit)
        #expect(named.hasPrefix("foliotrace: /very-long") && named.hasSuffix("trace.dat: truncated: the header"))

        // A cut never splits an escape: every backslash starts a whole \xNN.
        for n in 20..<40 {
            let cut = ErrorLine.format(path: nil, reason: String(repeating: "\u{1}", count: 50), limit: n)
            #expect(cut.count <= n)
            let body = cut.dropFirst("foliotrace: ".count).replacingOccurrences(of: "...", with: "")
            #expect(body.replacingOccurrences(of: "\\x01", with: "").isEmpty, "limit \(n): \(cut)")
        }
    }

    // MARK: the baseline's schema_version

    @Test(arguments: [
        (#"{"schema_version": "one", "findings": []}"#, #"is the string "one", not a number"#),
        (#"{"schema_version": 2, "findings": []}"#, "is 2, not 1"),
        (#"{"schema_version": true, "findings": []}"#, "is not an integer"),
        (#"{"schema_version": 1.5, "findings": []}"#, "is not an integer"),
        (#"{"findings": []}"#, #"not a foliotrace JSON report (no "schema_version")"#),
        (#"[1, 2]"#, "not a JSON object"),
        (#"not json at all"#, "not a JSON object"),
        (#"{"schema_version": 1}"#, #"no "findings" list"#),
    ])
    func baselineSchemaVersion(_ json: String, _ phrase: String) throws {
        let dir = try Fixtures.scratch("baseline-schema")
        let path = dir.appendingPathComponent("old.json").path
        try json.write(toFile: path, atomically: false, encoding: .utf8)
        do {
            _ = try Baseline(path: path)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.problem.contains(phrase), "\(error.problem)")
            if phrase.contains("schema_version") || phrase.contains("not") {
                #expect(error.problem.contains("analyze --format json"), "says how to make a good one")
            }
        }
    }

    @Test func baselineOfTheCurrentVersionIsRead() throws {
        let dir = try Fixtures.scratch("baseline-ok")
        let path = dir.appendingPathComponent("old.json").path
        let json = #"{"schema_version": 1, "findings": [{"rule": "r"}, {"rule": "r"}]}"#
        try json.write(toFile: path, atomically: false, encoding: .utf8)
        let b = try Baseline(path: path)
        #expect(b.schemaVersion == 1 && b.counts == ["r": 2])
    }

    // MARK: totals from file counts

    @Test func lossTotalsSaturate() {
        var huge = LostEvents()
        huge.counted = .max - 1
        huge.uncountedPages = .max
        var some = LostEvents()
        some.counted = 5
        some.uncountedPages = 3
        #expect(LostEvents.total([huge, some]) == .max)
        #expect(LostEvents.totalUncountedPages([huge, some]) == .max)
        #expect(LostEvents.total([some, some]) == 10 && LostEvents.totalUncountedPages([some, some]) == 6)
    }
}
