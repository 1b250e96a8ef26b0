import Foundation
import Testing

/// Real files that other projects made (fixtures/corpus/, provenance in its PROVENANCE.md):
/// old and new trace-cmd, 32-bit ARM, traces without memory events, perf 3.4 to 6.16,
/// simpleperf. Whatever the reference tools read, `foliotrace events` counts as they do
/// (their counts are in expected.tsv, written by make-expected.sh) and `foliotrace analyze`
/// judges (exit 0 or 1, never 2); what they refuse gets one clear line and exit 2 or is read.
@Suite struct CorpusTests {
    struct Entry: CustomTestStringConvertible, Sendable {
        var file: String
        var format: String
        var readerReads: Bool
        var total: Int?
        var events: [String: Int]
        var testDescription: String { file }
    }

    static let entries: [Entry] = {
        let path = Fixtures.path("corpus/expected.tsv")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.hasPrefix("file\t") }.compactMap { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard c.count >= 5 else { return nil }
            var events: [String: Int] = [:]
            if c[4] != "-" {
                for pair in c[4].split(separator: ",") {
                    guard let eq = pair.lastIndex(of: "="), let n = Int(pair[pair.index(after: eq)...]) else {
                        continue
                    }
                    events[String(pair[..<eq]).removingPercentEncoding ?? String(pair[..<eq])] = n
                }
            }
            return Entry(file: c[0], format: c[1], readerReads: c[2] == "1", total: Int(c[3]), events: events)
        }
    }()

    @Test func corpusIsThere() {
        #expect(Self.entries.filter { $0.format == "trace.dat" }.count >= 5)
        #expect(Self.entries.filter { $0.format == "perf.data" }.count >= 20)
    }

    @Test(arguments: entries)
    func readsWhatTheReferenceReads(_ entry: Entry) throws {
        let path = Fixtures.path("corpus/" + entry.file)
        let events = try CommandLineTests.run(["events", "--format", "json", path])
        guard entry.readerReads else {
            // The reference tool refuses it: foliotrace either reads it or says why in one line.
            if events.status != 0 {
                #expect(events.status == 2)
                #expect(events.stderr.split(separator: "\n").count == 1, "\(events.stderr)")
                #expect(events.stderr.hasPrefix("foliotrace: \(path): "), "\(events.stderr)")
            }
            return
        }
        #expect(events.status == 0, "\(events.stderr)")
        guard events.status == 0 else { return }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(events.stdout.utf8)) as? [String: Any])
        #expect(object["total"] as? Int == entry.total)
        let counted = try #require(object["events"] as? [String: Int])
        #expect(counted == entry.events)
        // trace.dat records always say their CPU; a perf sample only with PERF_SAMPLE_CPU.
        let perCPU = try #require(object["records_per_cpu"] as? [Int])
        if entry.format == "trace.dat" { #expect(perCPU.reduce(0, +) == entry.total) }
        #expect(object["cpus"] as? Int ?? 0 >= perCPU.count)

        let analyze = try CommandLineTests.run(["analyze", "--quiet", "--format", "json", path])
        #expect(analyze.status == 0 || analyze.status == 1, "\(analyze.stderr)")
        guard analyze.status != 2 else { return }
        let report = try #require(try JSONSerialization.jsonObject(with: Data(analyze.stdout.utf8)) as? [String: Any])
        let input = try #require(report["input"] as? [String: Any])
        // None of these files holds a memory event foliotrace models.
        #expect(input["memory_events"] as? Int == 0)
        let verdict = try #require(report["verdict"] as? [String: Any])
        #expect((verdict["headline"] as? String)?.hasPrefix("PASS: no memory events in this trace") == true)
        // --require-rules turns the same trace into a failed gate.
        let gated = try CommandLineTests.run(["analyze", "--quiet", "--require-rules", path])
        #expect(gated.status == 1, "\(gated.stderr)")
    }
}
