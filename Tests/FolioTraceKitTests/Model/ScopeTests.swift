import CTraceEvent
import FolioTraceKit
import Foundation
import Testing

/// `analyze --since/--until/--memcg/--pid`: a window of a real trace finds what the kernel's
/// own probe arguments in that window say, and the memcg and task narrow the findings to
/// those the fixture's truth file says concern them.
@Suite struct ScopeTests {
    @Test func traceTimes() {
        #expect(TraceTime("3.667611") == TraceTime(nanoseconds: 3_667_611_000))
        #expect(TraceTime("3667611656ns") == TraceTime(nanoseconds: 3_667_611_656))
        #expect(TraceTime("250ms") == TraceTime(nanoseconds: 250_000_000))
        #expect(TraceTime("1.5us") == TraceTime(nanoseconds: 1_500))
        #expect(TraceTime(".5") == TraceTime(nanoseconds: 500_000_000))
        #expect(TraceTime("+2") == TraceTime(nanoseconds: 2_000_000_000, fromStart: true))
        #expect(TraceTime("0.1234567891234") == TraceTime(nanoseconds: 123_456_789), "beyond 1 ns is dropped")
        for bad in ["", ".", "5x", "1.2.3", "-1", "1.", "s", "+", "99999999999999999999", "1e3"] {
            #expect(TraceTime(bad) == nil, "\(bad)")
        }
    }

    /// The mem_cgroup_move_account records of the 6.1 capture as libtracecmd reads them: the
    /// time of each and whether the probe read the page unmapped (_mapcount -1, and for a
    /// THP compound_mapcount -1).
    static func chargeMoves(_ path: String) throws -> (first: UInt64, moves: [(ts: UInt64, unmapped: Bool)]) {
        let file = try TraceFile(path: path)
        let reader = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
        let id = try #require(tep_find_event_by_name(reader.tep, "foliotrace", "mem_cgroup_move_account")?.pointee.id)
        var first = UInt64.max
        var moves: [(ts: UInt64, unmapped: Bool)] = []
        for cpu in 0..<Int32(file.cpuBuffers.count) {
            for r in reader.records(cpu: cpu) {
                first = min(first, r.timestamp)
                guard r.eventID == id else { continue }
                func field(_ name: String) throws -> Int32 {
                    Int32(
                        truncatingIfNeeded: try #require(reader.fieldValue(eventID: id, name: name, payload: r.payload))
                    )
                }
                let compound = try field("compound") & 0xff != 0
                let unmapped = try field("mapcount") == -1 && (!compound || (try field("cmapcount")) == -1)
                moves.append((r.timestamp, unmapped))
            }
        }
        return (first, moves.sorted { $0.ts < $1.ts })
    }

    @Test func windowFindsWhatTheKernelSawInIt() throws {
        let path = Fixtures.path("linux-6.1/charge-move.dat")
        let (first, moves) = try Self.chargeMoves(path)
        try #require(moves.count > 30)
        let since = moves[moves.count / 3].ts
        let until = moves[2 * moves.count / 3].ts
        let inside = moves.filter { $0.ts >= since && $0.ts <= until }
        let expected = inside.filter(\.unmapped).count
        #expect(expected > 0 && expected < moves.filter(\.unmapped).count)

        let absolute = try TraceAnalysis(
            path: path,
            window: AnalysisScope(since: TraceTime(nanoseconds: since), until: TraceTime(nanoseconds: until))
        )
        let found = absolute.findings.filter { $0.rule == RuleID.chargeMoveUnmapped }
        #expect(found.count == expected)
        #expect(found.allSatisfy { $0.timestamp >= since && $0.timestamp <= until })
        let mapped = absolute.ruleContext[RuleID.chargeMoveUnmapped]?.first { $0.0 == "mapped moves" }?.1
        #expect(mapped.map(Int.init) == inside.count - expected)
        #expect(absolute.span.first >= since && absolute.span.last <= until)
        #expect(absolute.scope?.since == since && absolute.scope?.until == until)

        // The same window from the trace's first event.
        let relative = try TraceAnalysis(
            path: path,
            window: AnalysisScope(
                since: TraceTime(nanoseconds: since - first, fromStart: true),
                until: TraceTime(nanoseconds: until - first, fromStart: true)
            )
        )
        #expect(relative.findings.count == absolute.findings.count)
        #expect(relative.report.summary.records == absolute.report.summary.records)
    }

    /// Host 6.18, A's reclaim evicting the file B maps: the truth file names the memcgs and
    /// the tasks. Every refault is B's mapper's; A's first reader refaults nothing.
    @Test func memcgAndPidNarrowTheFindings() throws {
        let fixture = "linux-6.18/memcg-reclaim-foreign.dat"
        let truth = try Truth(fixture)
        let a = try #require(truth.line("memcg A:").map(Truth.numbers)?.last)
        let b = try #require(truth.line("memcg B:").map(Truth.numbers)?.last)
        let pathB = try #require(truth.line("memcg B:")?.split(separator: " ").drop { $0 != "path" }.dropFirst().first)
        let mapper = try #require(truth.line("B mapper").flatMap { Truth.number(after: "pid", in: $0) })
        let reader = try #require(truth.line("A reader 1").flatMap { Truth.number(after: "pid", in: $0) })
        let refaults = try #require(truth.memoryStat("-- B memory.stat after")["workingset_refault_file"])

        let whole = try TraceAnalysis(path: Fixtures.path(fixture))
        let rule = RuleID.foreignRefault
        func refaulted(_ a: TraceAnalysis) -> UInt64 {
            a.findings.filter { $0.rule == rule }.reduce(0) { $0 + (1 << UInt64($1.folio.order)) }
        }
        #expect(refaulted(whole) == refaults)

        let toB = try whole.narrowed(to: AnalysisScope(memcg: String(pathB)))
        #expect(refaulted(toB) == refaults)
        #expect(toB.report.memcgs.map(\.id) == [b] && toB.scope?.memcgs == [b])
        #expect(toB.timeline.samples.allSatisfy { Set($0.memcgs.keys).isSubset(of: [b]) })
        #expect(toB.ruleContext.isEmpty, "whole-trace proportions are not shown beside narrowed findings")
        let byID = try whole.narrowed(to: AnalysisScope(memcg: String(a)))
        #expect(refaulted(byID) == refaults && byID.report.memcgs.map(\.id) == [a])
        let parent = String(pathB[..<(try #require(pathB.lastIndex(of: "/")))])
        let both = try whole.narrowed(to: AnalysisScope(memcg: "/sys/fs/cgroup" + parent + "/"))
        #expect(Set(both.report.memcgs.map(\.id)) == [a, b], "a memcg's children come with it")
        #expect(throws: ScopeError.self) { try whole.narrowed(to: AnalysisScope(memcg: parent + "/foliotrace-C")) }

        #expect(refaulted(try whole.narrowed(to: AnalysisScope(pid: Int32(mapper)))) == refaults)
        #expect(try whole.narrowed(to: AnalysisScope(pid: Int32(reader))).findings.isEmpty)
        #expect(try whole.narrowed(to: AnalysisScope(memcg: String(a), pid: Int32(reader))).findings.isEmpty)
    }
}
