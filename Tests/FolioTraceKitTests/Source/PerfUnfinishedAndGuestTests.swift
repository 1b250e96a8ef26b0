import FolioTraceKit
import Foundation
import Testing

/// Two kinds of perf.data that public repositories hold (four files in three repositories whose
/// `perf record` never finished; a KVM host's recording with guest samples), remade here from a
/// corpus file: the public ones carry no licence.
@Suite struct PerfUnfinishedAndGuestTests {
    /// File mode, uncompressed, 191 samples of three events (perf script's counts in expected.tsv).
    static let fixture = "corpus/perf/quipper-lost-samples-perf4.4.perf.data"

    /// A copy of the fixture, edited; `edit` gets the bytes and the data section's range.
    private func derived(_ name: String, edit: (inout Data, Range<Int>) -> Void) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(Self.fixture)))
        let (offset, size) = data.withUnsafeBytes {
            (
                Int($0.loadUnaligned(fromByteOffset: 40, as: UInt64.self)),
                Int($0.loadUnaligned(fromByteOffset: 48, as: UInt64.self))
            )
        }
        edit(&data, offset..<(offset + size))
        let url = try Fixtures.scratch("perf-public").appendingPathComponent(name)
        try data.write(to: url)
        return url.path
    }

    private func events(_ path: String) throws -> [String: Any] {
        let run = try CommandLineTests.run(["events", "--format", "json", path])
        #expect(run.status == 0, "\(run.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
    }

    /// What a perf record killed before its exit handler leaves: the header's data size still
    /// 0 and no feature sections (perf writes both at exit). The records are read to the end
    /// of the file and the report says why; before, the records were taken for a feature table
    /// and the file refused as "truncated: feature 2 section needs bytes up to offset ...".
    @Test func unfinishedRecordingIsReadToItsEnd() throws {
        let whole = try events(Fixtures.path(Self.fixture))
        let path = try derived("unfinished.perf.data") { data, records in
            data = data.prefix(records.upperBound)
            data.replaceSubrange(48..<56, with: Data(count: 8))
        }
        let object = try events(path)
        #expect(object["total"] as? Int == whole["total"] as? Int)
        // Without the EVENT_DESC feature the names are derived from the attributes
        // ("branches:ppH" for perf's "branch-instructions:pp"): the counts are the same.
        let counts = (object["events"] as? [String: Int] ?? [:]).values.sorted()
        #expect(counts == (whole["events"] as? [String: Int] ?? [:]).values.sorted())
        let damage = try #require(object["damage"] as? [String])
        #expect(damage.contains { $0.contains("perf record did not finish") }, "\(damage)")

        // Killed in the middle of writing a record: the records before it, and the cut.
        let cut = try derived("unfinished-cut.perf.data") { data, records in
            data = data.prefix(records.upperBound - 5)
            data.replaceSubrange(48..<56, with: Data(count: 8))
        }
        let c = try events(cut)
        #expect((c["total"] as? Int ?? .max) <= whole["total"] as? Int ?? 0)
        #expect(
            (c["damage"] as? [String])?.contains { $0.contains("are not a whole record (the file was cut") } == true
        )
        let analyze = try CommandLineTests.run(["analyze", "--quiet", "--format", "json", cut])
        #expect(analyze.status == 0 || analyze.status == 1, "\(analyze.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(analyze.stdout.utf8)) as? [String: Any])
        let input = try #require(report["input"] as? [String: Any])
        #expect((input["unverifiable"] as? String)?.contains("did not finish") == true)
    }

    /// A finished file with a data size of 0 keeps its feature table right after the header:
    /// it is read as one, not as records.
    @Test func finishedFileWithoutRecordsKeepsItsFeatures() throws {
        let path = try derived("empty.perf.data") { data, records in
            var file = data.prefix(records.lowerBound)
            file.append(data.suffix(from: records.upperBound))
            // The feature sections' offsets move back by the data's size.
            let shift = UInt64(records.count)
            let bits = (0..<4).map { i in
                file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 72 + 8 * i, as: UInt64.self) }
            }
            let sections = bits.map { $0.nonzeroBitCount }.reduce(0, +)
            for s in 0..<sections {
                let at = records.lowerBound + 16 * s
                let offset = file.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
                withUnsafeBytes(of: offset - shift) { file.replaceSubrange(at..<(at + 8), with: $0) }
            }
            file.replaceSubrange(48..<56, with: Data(count: 8))
            data = file
        }
        let object = try events(path)
        #expect(object["total"] as? Int == 0)
        #expect(object["damage"] as? [String] == [])
        #expect(object["kernel"] as? String == "4.14.18")
    }

    /// Samples taken while a guest ran (cpumode guest user or guest kernel) are left out of the
    /// counts as perf script leaves them out without --guest, and counted apart.
    @Test func guestSamplesAreLeftOutAsPerfScriptLeavesThemOut() throws {
        var marked = 0
        let path = try derived("guest.perf.data") { data, records in
            var offset = records.lowerBound
            var samples = 0
            while offset + 8 <= records.upperBound {
                let type = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
                let size = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self) })
                if type == 9 {
                    if samples % 3 == 0 {
                        data[offset + 4] = (data[offset + 4] & ~7) | 5  // PERF_RECORD_MISC_GUEST_USER
                        marked += 1
                    }
                    samples += 1
                }
                offset += max(size, 8)
            }
        }
        #expect(marked == 64)
        let object = try events(path)
        #expect(object["guest_samples"] as? Int == marked)
        #expect(object["total"] as? Int == 191 - marked)
        // What perf script (Debian's perf 6.1.187) prints for this copy.
        #expect(
            object["events"] as? [String: Int] == [
                "branch-instructions:pp": 10, "cycles:pp": 63, "instructions:pp": 54,
            ]
        )
        let perCPU = try #require(object["records_per_cpu"] as? [Int])
        #expect(perCPU.reduce(0, +) <= 191 - marked)
    }
}
