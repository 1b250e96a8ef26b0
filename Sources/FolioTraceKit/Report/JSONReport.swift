/// The JSON report: the shape is documented by `docs/report.schema.json` and versioned by
/// `"schema_version"`, which changes whenever a field is removed or changes meaning (new
/// fields may appear without a change).
public enum JSONReport {
    public static let schemaVersion = 1

    /// The whole report. `lifecycles` adds every kept generation (`--keep-lifecycles`).
    public static func render(_ a: TraceAnalysis, verdict: Verdict, lifecycles: Bool = false) -> JSON {
        let s = a.report.summary
        var reasons: [(String, JSON)] = []
        for (name, c) in s.migration.byReason.sorted(by: { $0.key < $1.key }) {
            reasons.append(
                (
                    name,
                    .object([("calls", .uint(c.calls)), ("succeeded", .uint(c.succeeded)), ("failed", .uint(c.failed))])
                )
            )
        }
        let lists = LRUList.allCases.filter { $0 != .unknown }
        let summary: JSON = .object([
            ("events", .uint(s.records)),
            ("typed_events", .uint(s.typedEvents)),
            ("folios", .uint(s.folios)),
            ("generations", .uint(s.generations)),
            ("began_before_trace", .uint(s.beganBeforeTrace)),
            ("freed", .uint(s.freed)),
            ("ended_unseen", .uint(s.endedUnseen)),
            ("live_at_end", .uint(s.liveAtEnd)),
            (
                "lifetime_histogram_log2_ns",
                .object(
                    s.lifetimeHistogram.enumerated().filter { $0.element > 0 }
                        .map { ("\($0.offset)", .uint($0.element)) }
                )
            ),
            ("lru_insertions", .object(lists.map { ($0.description, .uint(s.lruInsertions[Int($0.rawValue)])) })),
            ("activations", .uint(s.activations)),
            (
                "page_cache",
                .object([
                    ("adds", .uint(s.pageCacheAdds)), ("deletes", .uint(s.pageCacheDeletes)),
                    ("evictions", .uint(s.evictions)), ("refaults", .uint(s.refaults)),
                ])
            ),
            (
                "reclaim",
                .object([
                    ("memcg_reclaim_passes", .uint(s.reclaim.memcgReclaimPasses)),
                    ("direct_reclaim_passes", .uint(s.reclaim.directReclaimPasses)),
                    ("kswapd_wakes", .uint(s.reclaim.kswapdWakes)),
                    ("nr_reclaimed", .uint(s.reclaim.nrReclaimed)),
                    ("shrink_inactive_scanned", .uint(s.reclaim.shrinkInactiveScanned)),
                    ("shrink_inactive_reclaimed", .uint(s.reclaim.shrinkInactiveReclaimed)),
                    ("activated", .uint(s.reclaim.activated)),
                    ("unmap_failed", .uint(s.reclaim.unmapFailed)),
                    ("written_back", .uint(s.writtenBackByReclaim)),
                ])
            ),
            (
                "frees_by_context",
                .object(s.freesByContext.sorted { $0.key < $1.key }.map { ($0.key, .uint($0.value)) })
            ),
            (
                "migrations",
                .object([
                    ("calls", .uint(s.migration.calls)), ("succeeded", .uint(s.migration.succeeded)),
                    ("failed", .uint(s.migration.failed)), ("by_reason", .object(reasons)),
                    ("joined", .uint(s.migration.joined)), ("restored", .uint(s.migration.restored)),
                ])
            ),
            ("charge_moves", .uint(s.chargeMoves)),
            ("lost_events", .uint(LostEvents.total(a.lost))),
            ("lost_events_per_cpu", .array(a.lost.map { .uint($0.counted) })),
            ("generations_crossing_lost_events", .uint(s.generationsCrossingLoss)),
        ])
        let memcgs: JSON = .array(
            a.report.memcgs.map { m in
                .object([
                    ("id", .uint(m.id)), ("path", .optional(m.path)),
                    ("generations", .uint(m.generations)), ("pages_charged", .uint(m.pagesCharged)),
                    ("pages_reclaimed", .uint(m.pagesReclaimed)), ("pages_refaulted", .uint(m.pagesRefaulted)),
                    ("pages_moved_in", .uint(m.pagesMovedIn)), ("pages_moved_out", .uint(m.pagesMovedOut)),
                    ("pages_live_at_end", .uint(m.pagesLiveAtEnd)),
                    ("page_cache_pages_at_end", .uint(m.pageCachePagesAtEnd)),
                ])
            }
        )
        var report: [(String, JSON)] = [
            ("schema_version", .int(Int64(schemaVersion))),
            ("file", .string(a.path)), ("kernel", .optional(a.kernelRelease)), ("cpus", .int(Int64(a.cpus))),
            ("first_ts", .uint(a.span.first)), ("last_ts", .uint(a.span.last)),
        ]
        if let scope = a.scope {
            report.append(
                (
                    "scope",
                    .object([
                        ("since_ts", .optional(scope.since)), ("until_ts", .optional(scope.until)),
                        ("memcg", .optional(scope.memcgPath)),
                        ("memcg_ids", scope.memcgs.map { .array($0.sorted().map(JSON.uint)) } ?? .null),
                        ("pid", scope.scope.pid.map { .int(Int64($0)) } ?? .null),
                    ])
                )
            )
        }
        let notes = verdict.inputNotes
        var input: [(String, JSON)] = [
            ("memory_events", .uint(notes.memoryEvents)),
            ("damage", .array(notes.damage.map(JSON.string))),
            ("unverifiable", .optional(notes.unverifiable)),
            ("memory_gap", .optional(notes.memoryGap)),
            (
                "unmodelled",
                .array(
                    notes.unmodelled.map { u in
                        .object([
                            ("event", .string(u.event)), ("reason", .string(u.reason)),
                            ("analyses", .array(u.analyses.map(JSON.string))),
                        ])
                    }
                )
            ),
        ]
        if a.otherSamples > 0 { input.append(("other_samples", .uint(a.otherSamples))) }
        if let note = notes.clockNote { input.append(("clock_note", .string(note))) }
        report += [
            ("input", .object(input)),
            ("verdict", verdictJSON(verdict)),
            ("summary", summary), ("memcgs", memcgs), ("findings", .array(a.findings.map(findingJSON))),
            (
                "coverage",
                .array(
                    verdict.outcomes.map { o in
                        .object([
                            ("rule", .string(o.rule.id.rawValue)), ("severity", .string(o.rule.severity.rawValue)),
                            ("title", .string(o.rule.title)),
                            ("runnable", .bool(o.runnable)), ("missing", .array(o.missing.map(JSON.string))),
                            ("findings", .int(Int64(o.findings))),
                            ("context", .object((a.ruleContext[o.rule.id] ?? []).map { ($0.0, .uint($0.1)) })),
                            (
                                "unjudged",
                                .array(
                                    o.unjudged.map { g in
                                        .object([
                                            ("shapes", .array(g.shapes.map { .string($0.rawValue) })),
                                            ("reason", .string(g.reason)),
                                        ])
                                    }
                                )
                            ),
                        ])
                    }
                )
            ),
        ]
        if lifecycles {
            let all = (a.report.generations + a.report.live).sorted {
                ($0.pfn, $0.generation) < ($1.pfn, $1.generation)
            }
            report.append(("generations", .array(all.map { generationJSON($0, steps: nil, tasks: a.report.tasks) })))
        }
        return .object(report)
    }

    /// The gate's decision: overall, and per rule against the baseline when one was given.
    static func verdictJSON(_ v: Verdict) -> JSON {
        .object([
            ("failed", .bool(v.failed)), ("headline", .string(v.headline)),
            ("fail_on", .optional(v.failOn?.rawValue)),
            ("baseline", .optional(v.baseline?.path)),
            ("tolerance", v.baseline == nil ? .null : .string(v.tolerance.description)),
            ("require_rules", .bool(v.requireRules)), ("fail_on_damage", .bool(v.failOnDamage)),
            (
                "rules",
                .array(
                    v.outcomes.map { o in
                        .object([
                            ("rule", .string(o.rule.id.rawValue)), ("findings", .int(Int64(o.findings))),
                            ("baseline_findings", o.baseline.map { .int(Int64($0)) } ?? .null),
                            ("change", .string(o.change.rawValue)), ("failed", .bool(o.failed)),
                            ("reason", .optional(o.reason)),
                        ])
                    }
                )
            ),
        ])
    }

    /// A finding in the JSON shape the detectors issue fixes.
    public static func findingJSON(_ f: Finding) -> JSON {
        .object([
            ("rule", .string(f.rule.rawValue)), ("severity", .string(f.severity.rawValue)),
            ("pfn", .uint(f.folio.pfn)), ("generation", .uint(UInt64(f.folio.generation))),
            ("order", .uint(UInt64(f.folio.order))),
            ("inode", .optional(f.folio.filePage?.inode)), ("index", .optional(f.folio.filePage?.index)),
            ("memcg", .optional(f.memcg)), ("other_memcg", .optional(f.otherMemcg)),
            ("ts", .uint(f.timestamp)), ("message", .string(f.message)),
            (
                "evidence",
                .array(
                    f.evidence.map { e in
                        .object([
                            ("event", .string(e.event)), ("cpu", .int(Int64(e.cpu))), ("ts", .uint(e.timestamp)),
                            ("pid", .int(Int64(e.pid))),
                        ])
                    }
                )
            ),
        ])
    }
}
