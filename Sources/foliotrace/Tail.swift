import ArgumentParser
import FolioTraceKit
import Foundation

/// `foliotrace tail`: live analysis of this machine, on the same engine and detectors.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Analyze this machine live: a rolling summary and findings as they are detected.",
        discussion: """
            On a terminal the summary refreshes in place and findings print above it; otherwise \
            (or with --format json) it writes JSON lines: {"type": "finding", ...} as detected and \
            {"type": "summary", ...} every interval. Lost events are counted and shown. Ctrl-C or \
            SIGTERM ends it and removes its tracefs instance. Needs root.
            """
    )

    @Option(help: "Event set: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: Preset = .all

    @Option(name: .short, help: "An extra event, system:name or system:* (repeatable).")
    var event: [String] = []

    @Option(help: "Only this memcg: its cgroup directory (/sys/fs/cgroup/memory/A) or its path (/A).")
    var memcg: String?

    @Option(name: .shortAndLong, help: "text (a terminal's rolling summary) or json (JSON lines).")
    var format: OutputFormat?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(help: "Seconds between summaries.")
    var interval: Double = 1

    @Option(help: "Per-CPU ring buffer size in KiB (the kernel's default when not given).")
    var bufferKb: Int?

    func validate() throws {
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if !(interval >= 0.1) { throw ValidationError("--interval must be at least 0.1 seconds") }
    }

    func run() throws {
        var memcgID: UInt64?
        if let memcg {
            guard let found = CgroupPaths.resolve(memcg) else {
                Streams.error(
                    path: memcg,
                    "not a memory cgroup (give its directory, e.g. /sys/fs/cgroup/memory/A, or its path in the hierarchy, e.g. /A)"
                )
                throw ExitCode(2)
            }
            memcgID = found.id
        }
        let session: LiveSession
        do {
            session = try LiveSession(events: preset.events + event, bufferKiB: bufferKb)
        } catch {
            Streams.error(error)
            throw ExitCode(2)
        }
        defer { session.close() }
        if !session.missing.isEmpty {
            var text = "foliotrace: not on this kernel, skipped: \(session.missing.joined(separator: ", "))\n"
            let disabled = AnalysisRequirement.disabled(byMissing: Set(session.missing))
            if !disabled.isEmpty {
                text += "foliotrace: without them these analyses cannot run: \(disabled.joined(separator: ", "))\n"
            }
            FileHandle.standardError.write(Data(text.utf8))
        }
        StopSignals.install()
        defer { StopSignals.restore() }
        let terminal = (format ?? (isatty(STDOUT_FILENO) == 1 ? .text : .json)) == .text
        var view = TailView(terminal: terminal, memcg: memcgID)
        let start = Date()
        var nextSummary = start.addingTimeInterval(interval)
        while !StopSignals.requested {
            if let duration, Date().timeIntervalSince(start) >= duration { break }
            let handled: Int
            do {
                handled = try session.poll()
            } catch {
                Streams.error(error)
                throw ExitCode(2)
            }
            for f in session.newFindings() { view.finding(f) }
            if Date() >= nextSummary {
                view.summary(session, elapsed: Date().timeIntervalSince(start))
                nextSummary = nextSummary.addingTimeInterval(interval)
                // Nobody reads what is printed (a full disk, a closed stream): stop; main says why.
                if Streams.standardOutputFailed { break }
            }
            // Keep reading while events flow: a pause in a burst is what overflows the buffer.
            if handled == 0 { usleep(5_000) }
        }
        session.close()
        for f in session.newFindings() { view.finding(f) }
        view.summary(session, elapsed: Date().timeIntervalSince(start), final: true)
    }
}

/// What `tail` prints: a block redrawn in place on a terminal, JSON lines otherwise.
struct TailView {
    let terminal: Bool
    let memcg: UInt64?
    private var drawnLines = 0
    private var last = LifecycleSummary()
    private var lastTime = 0.0

    init(terminal: Bool, memcg: UInt64?) {
        self.terminal = terminal
        self.memcg = memcg
    }

    private func concerns(_ f: Finding) -> Bool { memcg == nil || f.memcg == memcg || f.otherMemcg == memcg }

    mutating func finding(_ f: Finding) {
        guard concerns(f) else { return }
        if terminal {
            clear()
            print("[\(f.severity.rawValue)] \(f.rule): pfn 0x\(String(f.folio.pfn, radix: 16)) \(f.message)")
        } else {
            let line: JSON = .object([("type", .string("finding"))] + fields(JSONReport.findingJSON(f)))
            print(line.compact)
        }
    }

    mutating func summary(_ s: LiveSession, elapsed: Double, final: Bool = false) {
        let now = s.engine.summary
        let dt = max(elapsed - lastTime, 1e-3)
        let rate = { (a: UInt64, b: UInt64) in Double(a &- b) / dt }
        var census = s.engine.census()
        if let memcg { census = census.filter { $0.key == memcg } }
        let memcgs = census.sorted { $0.value.lruPages > $1.value.lruPages }.prefix(8)
        let lost = s.lostEvents
        if terminal {
            clear()
            var lines = [
                String(
                    format: "foliotrace tail  %.0f s  %llu events (%.0f/s)  %llu lost%@%@",
                    elapsed,
                    now.records,
                    rate(now.records, last.records),
                    lost,
                    s.backlogPages > 0
                        ? (final ? "  \(s.backlogPages) pages never analyzed" : "  \(s.backlogPages) pages behind")
                        : "",
                    final ? "  (stopped)" : ""
                ),
                String(
                    format: "folios live %d  page cache +%.0f/s -%.0f/s  refaults %.0f/s  reclaimed %.0f/s  "
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
                    String(format: "%-20llu %10llu %11llu  ", id, c.lruPages, c.pageCachePages)
                        + (s.cgroupPaths[id] ?? (id == 0 ? "(not attributed)" : ""))
                )
            }
            for l in lines { print(l) }
            drawnLines = final ? 0 : lines.count
        } else {
            let line: JSON = .object([
                ("type", .string("summary")), ("elapsed_s", .string(String(format: "%.3f", elapsed))),
                ("events", .uint(now.records)), ("lost_events", .uint(lost)),
                ("unanalyzed_pages", .int(Int64(s.backlogPages))),
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
            ])
            print(line.compact)
        }
        fflush(nil)
        last = now
        lastTime = elapsed
    }

    /// Moves the cursor up over the last summary block and clears to the end of the screen.
    private mutating func clear() {
        if terminal, drawnLines > 0 { print("\u{1B}[\(drawnLines)A\u{1B}[J", terminator: "") }
        drawnLines = 0
    }

    private func fields(_ j: JSON) -> [(String, JSON)] {
        if case .object(let o) = j { return o }
        return []
    }
}
