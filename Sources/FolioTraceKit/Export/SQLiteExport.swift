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

/// `foliotrace export --sqlite`: the analysis as SQL tables, for questions the reports do not
/// answer. The schema (`schema`, also in docs/export-schema.sql) uses only types and syntax
/// that PostgreSQL accepts unchanged (BIGINT, TEXT, INTEGER 0/1 flags, no SQLite-only
/// clauses), so exports from many machines can be gathered into one server. pfns,
/// timestamps and ids are unsigned in the kernel but below 2^63 in practice: stored as
/// BIGINT.
public enum SQLiteExport {
    public static let schemaVersion = 2

    public static let schema = """
        CREATE TABLE traces (
            trace_id BIGINT PRIMARY KEY,
            path TEXT NOT NULL,
            format TEXT,
            host TEXT,
            kernel TEXT,
            recorder TEXT,
            cpus INTEGER,
            events BIGINT,
            lost_events BIGINT,
            findings BIGINT,
            status TEXT NOT NULL,
            error TEXT
        );
        CREATE TABLE trace (
            trace_id BIGINT PRIMARY KEY,
            schema_version INTEGER NOT NULL,
            file TEXT NOT NULL,
            kernel TEXT,
            cpus INTEGER NOT NULL,
            events BIGINT NOT NULL,
            first_ts BIGINT NOT NULL,
            last_ts BIGINT NOT NULL,
            lost_events BIGINT NOT NULL
        );
        CREATE TABLE memcgs (
            trace_id BIGINT NOT NULL,
            id BIGINT NOT NULL,
            path TEXT,
            generations BIGINT NOT NULL,
            pages_charged BIGINT NOT NULL,
            pages_reclaimed BIGINT NOT NULL,
            pages_refaulted BIGINT NOT NULL,
            pages_moved_in BIGINT NOT NULL,
            pages_moved_out BIGINT NOT NULL,
            pages_live_at_end BIGINT NOT NULL,
            page_cache_pages_at_end BIGINT NOT NULL,
            PRIMARY KEY (trace_id, id)
        );
        CREATE TABLE tasks (
            trace_id BIGINT NOT NULL,
            pid INTEGER NOT NULL,
            comm TEXT NOT NULL,
            PRIMARY KEY (trace_id, pid)
        );
        CREATE TABLE task_cgroups (
            trace_id BIGINT NOT NULL,
            pid INTEGER NOT NULL,
            cgroup BIGINT NOT NULL,
            since_ts BIGINT NOT NULL
        );
        CREATE TABLE generations (
            trace_id BIGINT NOT NULL,
            pfn BIGINT NOT NULL,
            generation INTEGER NOT NULL,
            folio_order INTEGER NOT NULL,
            pages BIGINT NOT NULL,
            allocated_ts BIGINT,
            first_seen_ts BIGINT NOT NULL,
            freed_ts BIGINT,
            alloc_pid INTEGER,
            freed_by INTEGER,
            free_context TEXT,
            memcg BIGINT,
            attribution TEXT NOT NULL,
            dev BIGINT,
            inode BIGINT,
            file_index BIGINT,
            page_cache_added_ts BIGINT,
            page_cache_deleted_ts BIGINT,
            evicted INTEGER NOT NULL,
            lru TEXT,
            lru_insertions INTEGER NOT NULL,
            activations INTEGER NOT NULL,
            written_back_by_reclaim INTEGER NOT NULL,
            charge_moves INTEGER NOT NULL,
            migrated_from BIGINT,
            migrated_to BIGINT,
            migration_reason TEXT,
            crosses_lost_events INTEGER NOT NULL,
            PRIMARY KEY (trace_id, pfn, generation)
        );
        CREATE TABLE steps (
            trace_id BIGINT NOT NULL,
            pfn BIGINT NOT NULL,
            generation INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            ts BIGINT NOT NULL,
            cpu INTEGER NOT NULL,
            pid INTEGER NOT NULL,
            event TEXT NOT NULL,
            detail TEXT NOT NULL,
            memcg BIGINT,
            PRIMARY KEY (trace_id, pfn, generation, seq)
        );
        CREATE TABLE migrations (
            trace_id BIGINT NOT NULL,
            old_pfn BIGINT NOT NULL,
            old_generation INTEGER NOT NULL,
            new_pfn BIGINT NOT NULL,
            folio_order INTEGER NOT NULL,
            reason TEXT,
            memcg BIGINT
        );
        CREATE TABLE rules (
            trace_id BIGINT NOT NULL,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            title TEXT NOT NULL,
            runnable INTEGER NOT NULL,
            missing TEXT NOT NULL,
            findings BIGINT NOT NULL,
            PRIMARY KEY (trace_id, rule)
        );
        CREATE TABLE findings (
            trace_id BIGINT NOT NULL,
            id BIGINT NOT NULL,
            rule TEXT NOT NULL,
            severity TEXT NOT NULL,
            pfn BIGINT NOT NULL,
            generation INTEGER NOT NULL,
            folio_order INTEGER NOT NULL,
            inode BIGINT,
            file_index BIGINT,
            memcg BIGINT,
            other_memcg BIGINT,
            ts BIGINT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (trace_id, id)
        );
        CREATE TABLE evidence (
            trace_id BIGINT NOT NULL,
            finding_id BIGINT NOT NULL,
            seq INTEGER NOT NULL,
            event TEXT NOT NULL,
            cpu INTEGER NOT NULL,
            ts BIGINT NOT NULL,
            pid INTEGER NOT NULL,
            PRIMARY KEY (trace_id, finding_id, seq)
        );
        CREATE INDEX traces_kernel ON traces (kernel);
        CREATE INDEX generations_memcg ON generations (memcg);
        CREATE INDEX generations_file ON generations (inode, file_index);
        CREATE INDEX migrations_old ON migrations (trace_id, old_pfn);
        CREATE INDEX migrations_new ON migrations (trace_id, new_pfn);
        CREATE INDEX findings_rule ON findings (rule);
        CREATE INDEX findings_memcg ON findings (memcg, other_memcg);
        CREATE INDEX task_cgroups_pid ON task_cgroups (trace_id, pid);

        """

    /// Writes `a` to a new SQLite file at `path` (see `write(_:to:)` with an `OutputFile`).
    public static func write(_ a: TraceAnalysis, to path: String) throws(FileError) {
        try write(a, to: try OutputFile(path: path, inputs: [a.path]))
    }

    /// Writes `a` as a new SQLite database into `output`'s temporary file and renames it into
    /// place: a failure (a full disk, an insert refused) leaves the file that was there as it
    /// was. `a` must have kept its lifecycles (`LifecycleEngine.Options.keepLifecycles`); steps
    /// are written when it recorded them.
    public static func write(_ a: TraceAnalysis, to output: OutputFile) throws(FileError) {
        let db = try SQLiteDatabase(creating: output.temporaryPath, path: output.path)
        // One transaction and no journal: a fresh file, written once, thrown away on failure.
        try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN;")
        try db.execute(schema)
        let id = TraceID.of(path: a.path)
        try insertTrace(db, JSONLinesReport.traceLine(a, traceID: id, origin: TraceOrigin(path: a.path) ?? .init()))
        try fill(db, from: a, traceID: id)
        try db.execute("COMMIT;")
        try db.close()
        try output.commit()
    }

    /// The `traces` row of a trace from its JSON line (`JSONLinesReport.traceLine` or
    /// `unreadableLine`): what the fleet runners and the export share.
    static func insertTrace(_ db: SQLiteDatabase, _ line: JSON) throws(FileError) {
        guard case .object(let fields) = line else { return }
        let get = { (key: String) -> SQLiteDatabase.Statement.Value in
            switch fields.first(where: { $0.0 == key })?.1 {
            case .int(let i): return .int(i)
            case .uint(let u): return .of(u)
            case .string(let s): return .text(s)
            default: return .null
            }
        }
        let columns = [
            "trace_id", "file", "format", "host", "kernel", "recorder", "cpus", "events", "lost_events", "findings",
            "status", "error",
        ]
        try db.prepare("INSERT INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)").insert(columns.map(get))
    }

    /// Inserts the rows of one trace, each with `traceID`, into the tables of `schema`.
    static func fill(_ db: SQLiteDatabase, from a: TraceAnalysis, traceID: Int64) throws(FileError) {
        let t = SQLiteDatabase.Statement.Value.int(traceID)
        try db.prepare("INSERT INTO trace VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").insert([
            t, .int(Int64(schemaVersion)), .text(a.path), .of(a.kernelRelease), .of(a.cpus),
            .of(a.report.summary.records), .of(a.span.first), .of(a.span.last),
            .of(LostEvents.total(a.lost)),
        ])

        let memcg = try db.prepare("INSERT INTO memcgs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for m in a.report.memcgs {
            try memcg.insert([
                t, .of(m.id), .of(m.path), .of(m.generations), .of(m.pagesCharged), .of(m.pagesReclaimed),
                .of(m.pagesRefaulted), .of(m.pagesMovedIn), .of(m.pagesMovedOut), .of(m.pagesLiveAtEnd),
                .of(m.pageCachePagesAtEnd),
            ])
        }

        let tasks = a.report.tasks
        let task = try db.prepare("INSERT INTO tasks VALUES (?, ?, ?)")
        for (pid, comm) in tasks.comms.sorted(by: { $0.key < $1.key }) {
            try task.insert([t, .of(Int(pid)), .text(comm)])
        }
        let attach = try db.prepare("INSERT INTO task_cgroups VALUES (?, ?, ?, ?)")
        for (pid, history) in tasks.cgroupHistory.sorted(by: { $0.key < $1.key }) {
            for h in history { try attach.insert([t, .of(Int(pid)), .of(h.id), .of(h.since)]) }
        }

        let generation = try db.prepare(
            "INSERT INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        let migration = try db.prepare("INSERT INTO migrations VALUES (?, ?, ?, ?, ?, ?, ?)")
        let step = try db.prepare("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        for g in a.report.generations + a.report.live {
            try generation.insert([
                t, .of(g.pfn), .of(Int(g.generation)), .of(Int(g.order)), .of(g.pages), .of(g.allocatedAt),
                .of(g.firstSeen), .of(g.freedAt), .of(g.allocPid.map(Int.init)), .of(g.freedBy.map(Int.init)),
                .of(g.freeContext?.rawValue), .of(g.memcg), .text(g.attribution.description),
                .of(g.filePage.map { UInt64($0.dev) }), .of(g.filePage?.inode), .of(g.filePage?.index),
                .of(g.addedToPageCacheAt), .of(g.deletedFromPageCacheAt), .of(g.evicted), .of(g.lru?.description),
                .of(Int(g.lruInsertions)), .of(Int(g.activations)), .of(g.writtenBackByReclaim),
                .of(Int(g.chargeMoves)), .of(g.migratedFrom), .of(g.migratedTo), .of(g.migrationReason),
                .of(g.crossesLoss),
            ])
            if let to = g.migratedTo {
                try migration.insert([
                    t, .of(g.pfn), .of(Int(g.generation)), .of(to), .of(Int(g.order)), .of(g.migrationReason),
                    .of(g.memcg),
                ])
            }
            for (i, s) in (a.report.steps[FolioStepKey(pfn: g.pfn, generation: g.generation)] ?? []).enumerated() {
                try step.insert([
                    t, .of(g.pfn), .of(Int(g.generation)), .of(i), .of(s.timestamp), .of(Int(s.cpu)), .of(Int(s.pid)),
                    .text(s.event), .text(s.detail), .of(s.memcg),
                ])
            }
        }

        let rule = try db.prepare("INSERT INTO rules VALUES (?, ?, ?, ?, ?, ?, ?)")
        for c in a.coverage {
            let n = a.findings.lazy.filter { $0.rule == c.rule.id }.count
            try rule.insert([
                t, .text(c.rule.id.rawValue), .text(c.rule.severity.rawValue), .text(c.rule.title), .of(c.runnable),
                .text(c.missing.joined(separator: " ")), .of(n),
            ])
        }
        let finding = try db.prepare("INSERT INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        let evidence = try db.prepare("INSERT INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?)")
        for (id, f) in a.findings.enumerated() {
            try finding.insert([
                t, .of(id), .text(f.rule.rawValue), .text(f.severity.rawValue), .of(f.folio.pfn),
                .of(Int(f.folio.generation)),
                .of(Int(f.folio.order)), .of(f.folio.filePage?.inode), .of(f.folio.filePage?.index), .of(f.memcg),
                .of(f.otherMemcg), .of(f.timestamp), .text(f.message),
            ])
            for (i, e) in f.evidence.enumerated() {
                try evidence.insert([
                    t, .of(id), .of(i), .text(e.event), .of(Int(e.cpu)), .of(e.timestamp), .of(Int(e.pid)),
                ])
            }
        }
    }
}
