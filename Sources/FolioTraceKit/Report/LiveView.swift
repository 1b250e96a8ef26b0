#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What `tail` prints: a block redrawn in place on a terminal, JSON lines otherwise
/// (documented by docs/tail.schema.json). Each call returns the text to write.
public struct LiveView {
    public let terminal: Bool
    public let memcg: UInt64?
    private var drawnLines = 0
    private var last = LifecycleSummary()
    private var lastTime = 0.0

    public init(terminal: Bool, memcg: UInt64?) {
        self.terminal = terminal
        self.memcg = memcg
    }

    private func concerns(_ f: Finding) -> Bool { memcg == nil || f.memcg == memcg || f.otherMemcg == memcg }

    /// A finding's line (nil when it concerns another memcg than the one followed).
    public mutating func finding(_ f: Finding) -> String? {
        guard concerns(f) else { return nil }
        if terminal {
            return clear()
                + "[\(f.severity.rawValue)] \(f.rule): pfn 0x\(String(f.folio.pfn, radix: 16)) \(f.message)\n"
        }
        let line: JSON = .object([("type", .string("finding"))] + fields(JSONReport.findingJSON(f)))
        return line.compact + "\n"
    }

    /// The summary block (terminal: redrawn over the previous one) or line.
    public mutating func summary(_ s: LiveSession, elapsed: Double, final: Bool = false) -> String {
        var out = ""
        let now = s.engine.summary
        let dt = max(elapsed - lastTime, 1e-3)
        let rate = { (a: UInt64, b: UInt64) in Double(a &- b) / dt }
        var census = s.engine.census()
        if let memcg { census = census.filter { $0.key == memcg } }
        let memcgs = census.sorted { $0.value.lruPages > $1.value.lruPages }.prefix(8)
        let lost = s.lostEvents
        if terminal {
            out += clear()
            var lines = [
                cFormat(
                    "foliotrace tail  %.0f s  %llu events (%.0f/s)  %llu lost",
                    elapsed,
                    now.records,
                    rate(now.records, last.records),
                    lost
                )
                    + (s.backlogPages > 0
                        ? (final
                            ? "  \(s.backlogPages) pages (\(s.unanalyzedEvents) events) never analyzed"
                            : "  \(s.backlogPages) pages behind")
                        : "")
                    + (s.spilledPages > 0 ? "  \(s.spilledPages) pages spooled to disk" : "")
                    + (s.lateRecords > 0
                        ? "  \(s.lateRecords) events out of order (their folios' lives may be wrong)" : "")
                    + (final ? "  (stopped)" : ""),
                cFormat(
                    "folios live %ld  page cache +%.0f/s -%.0f/s  refaults %.0f/s  reclaimed %.0f/s  "
                        + "migrated %.0f/s  activations %.0f/s",
                    s.engine.liveFolioCount,
                    rate(now.pageCacheAdds, last.pageCacheAdds),
                    rate(now.pageCacheDeletes, last.pageCacheDeletes),
                    rate(now.refaults, last.refaults),
                    rate(now.reclaim.shrinkInactiveReclaimed, last.reclaim.shrinkInactiveReclaimed),
                    rate(now.migration.succeeded, last.migration.succeeded),
                    rate(now.activations, last.activations)
                ),
                "memcg                 lru pages  page cache  path",
            ]
            for (id, c) in memcgs {
                lines.append(
                    cFormat("%-20llu %10llu %11llu  ", id, c.lruPages, c.pageCachePages)
                        + (s.cgroupPaths[id] ?? (id == 0 ? "(not attributed)" : ""))
                )
            }
            for l in lines { out += l + "\n" }
            drawnLines = final ? 0 : lines.count
        } else {
            let line: JSON = .object(
                [
                    ("type", .string("summary")), ("elapsed_s", .string(cFormat("%.3f", elapsed))),
                    ("events", .uint(now.records)), ("lost_events", .uint(lost)),
                    ("unanalyzed_pages", .int(Int64(s.backlogPages))), ("spilled_pages", .int(Int64(s.spilledPages))),
                    ("late_events", .uint(s.lateRecords)),
                ] + (final ? [("unanalyzed_events", JSON.uint(s.unanalyzedEvents))] : []) + [
                    ("live_folios", .int(Int64(s.engine.liveFolioCount))),
                    ("page_cache_adds", .uint(now.pageCacheAdds)), ("page_cache_deletes", .uint(now.pageCacheDeletes)),
                    ("lru_insertions", .uint(now.lruInsertions.reduce(0, +))), ("activations", .uint(now.activations)),
                    ("refaults", .uint(now.refaults)), ("reclaimed", .uint(now.reclaim.shrinkInactiveReclaimed)),
                    ("migrations_succeeded", .uint(now.migration.succeeded)), ("final", .bool(final)),
                    (
                        "memcgs",
                        .array(
                            memcgs.map { id, c in
                                .object([
                                    ("id", .uint(id)), ("path", .optional(s.cgroupPaths[id])),
                                    ("lru_pages", .uint(c.lruPages)), ("page_cache_pages", .uint(c.pageCachePages)),
                                ])
                            }
                        )
                    ),
                ]
            )
            out += line.compact + "\n"
        }
        last = now
        lastTime = elapsed
        return out
    }

    /// Moves the cursor up over the last summary block and clears to the end of the screen.
    private mutating func clear() -> String {
        defer { drawnLines = 0 }
        return terminal && drawnLines > 0 ? "\u{1B}[\(drawnLines)A\u{1B}[J" : ""
    }

    private func fields(_ j: JSON) -> [(String, JSON)] {
        if case .object(let o) = j { return o }
        return []
    }
}
