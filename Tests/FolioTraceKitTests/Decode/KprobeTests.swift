import FolioTraceKit
import Foundation
import Testing

/// Kprobe events decoded into rmap and charge calls, checked against what the kernel itself
/// counted during the capture (a hist trigger on the same probe, saved in the truth file).
@Suite struct KprobeTests {
    @Test func probeNamesMapToFunctions() {
        #expect(KprobeFunction(eventName: "mem_cgroup_move_account") == .memCgroupMoveAccount)
        #expect(KprobeFunction(eventName: "p_page_remove_rmap_0") == .pageRemoveRmap)
        #expect(KprobeFunction(eventName: "folio_add_file_rmap_ptes_1") == .folioAddFileRmapPtes)
        #expect(KprobeFunction(eventName: "do_anonymous_page") == nil)
        #expect(KprobeFunction.folioRemoveRmapPmd.rmapAction == .remove)
        #expect(KprobeFunction.memCgroupMoveAccount.isRmap == false)
    }

    /// `{ mapcount: M, compound: C } hitcount: N` lines of the kernel's hist trigger.
    static func kernelHistogram(_ truth: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in truth.split(separator: "\n") where line.hasPrefix("{ mapcount:") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) }
            guard numbers.count == 3 else { continue }
            out["\(Int64(bitPattern: numbers[0]))/\(numbers[1])", default: 0] += Int(numbers[2])
        }
        return out
    }

    /// Debian 6.1 guest, cgroup-v1 charge moving: every mem_cgroup_move_account call with the
    /// page's _mapcount and the compound flag, as the kernel's own hist trigger counted them.
    @Test func chargeMovesMatchKernelHistogram() throws {
        let fixture = "linux-6.1/charge-move.dat"
        let truth = try String(contentsOfFile: Fixtures.path("linux-6.1/charge-move.truth.txt"), encoding: .utf8)
        let expected = Self.kernelHistogram(truth)
        #expect(!expected.isEmpty, "the truth file has the kernel's histogram")

        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try EventCatalog(file: file), path: path)
        var merged = try file.mergedRecords()
        var seen: [String: Int] = [:]
        var memcgIDs = Set<UInt64>()
        while let r = try merged.next() {
            guard case .charge(let c) = decoder.decode(r), c.function == .memCgroupMoveAccount else { continue }
            let mapcount = try #require(c.arguments.mapcount)
            let compound = try #require(c.arguments.compound as Bool?)
            seen["\(mapcount)/\(compound ? 1 : 0)", default: 0] += 1
            if let from = c.arguments.fromMemcgID, let to = c.arguments.toMemcgID { memcgIDs.formUnion([from, to]) }
        }
        #expect(seen == expected)
        // The charges moved from memcg A to memcg B, whose cgroup ids the truth file records.
        let ids =
            truth.split(separator: "\n").first { $0.hasPrefix("memcg A: path") }
            .map { $0.split(whereSeparator: { !$0.isNumber }).compactMap { UInt64($0) } } ?? []
        #expect(ids.count >= 2 && memcgIDs == Set(ids.prefix(2)), "memcg ids \(memcgIDs) vs truth \(ids)")
    }
}
