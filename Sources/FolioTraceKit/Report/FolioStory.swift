/// The generations of one pfn and their steps.
public struct FolioStory: Sendable {
    public let pfn: UInt64
    public let generations: [(FolioGeneration, [FolioStep])]
    public let tasks: TaskTable

    public init(pfn: UInt64, analysis: TraceAnalysis) {
        self.pfn = pfn
        tasks = analysis.report.tasks
        generations = analysis.report.generations
            .filter { pfn >= $0.pfn && pfn - $0.pfn < $0.pages }
            .map { g in (g, analysis.report.steps[FolioStepKey(pfn: g.pfn, generation: g.generation)] ?? []) }
    }

    public var json: JSON {
        .object([
            ("pfn", .uint(pfn)),
            ("generations", .array(generations.map { g, steps in generationJSON(g, steps: steps, tasks: tasks) })),
        ])
    }

    public var text: String {
        guard !generations.isEmpty else { return "pfn 0x\(hex(pfn)): no event of the trace touches it\n" }
        var t = ""
        for (g, steps) in generations {
            t += "pfn 0x\(hex(g.pfn)) generation \(g.generation), order \(g.order)"
            t += g.allocatedAt == nil ? ", began before the trace (or as a migration target)" : ""
            if let m = g.memcg {
                t += ", memcg \(m)" + (tasks.cgroupPaths[m].map { " \($0)" } ?? "") + " (\(g.attribution.description))"
            }
            t += "\n"
            if let from = g.migratedFrom { t += "  migrated from pfn 0x\(hex(from))\n" }
            for s in steps {
                let memcg = s.memcg.map { "  memcg \($0)" } ?? ""
                t +=
                    "  \(seconds(s.timestamp)) [\(s.cpu)] \(tasks.comm(s.pid))-\(s.pid)  \(s.event)  \(s.detail)\(memcg)\n"
            }
            if let to = g.migratedTo { t += "  migrated to pfn 0x\(hex(to))\n" }
            if g.freedAt == nil { t += "  (not freed in the trace)\n" }
            if g.crossesLoss { t += "  (events were lost while it was live: steps may be missing)\n" }
            t += "\n"
        }
        return t
    }
}

/// One generation as JSON: the shape `folio --format json` and `analyze --keep-lifecycles`
/// share. `steps` is left out when nil.
public func generationJSON(_ g: FolioGeneration, steps: [FolioStep]?, tasks: TaskTable) -> JSON {
    var fields: [(String, JSON)] = [
        ("pfn", .uint(g.pfn)), ("generation", .uint(UInt64(g.generation))),
        ("start_ts", .optional(g.allocatedAt)), ("first_seen_ts", .uint(g.firstSeen)),
        ("end_ts", .optional(g.freedAt)), ("order", .uint(UInt64(g.order))),
        ("memcg", .optional(g.memcg)), ("memcg_path", .optional(g.memcg.flatMap { tasks.cgroupPaths[$0] })),
        ("attribution", .string(g.attribution.description)),
        ("migrated_from", .optional(g.migratedFrom)), ("migrated_to", .optional(g.migratedTo)),
        ("migration_reason", .optional(g.migrationReason)),
        ("inode", .optional(g.filePage?.inode)), ("index", .optional(g.filePage?.index)),
        ("lru", .optional(g.lru?.description)), ("evicted", .bool(g.evicted)),
        ("free_context", .optional(g.freeContext?.rawValue)),
        ("crosses_lost_events", .bool(g.crossesLoss)),
    ]
    if let steps {
        let list: [JSON] = steps.map { s in
            .object([
                ("ts", .uint(s.timestamp)), ("cpu", .int(Int64(s.cpu))), ("pid", .int(Int64(s.pid))),
                ("comm", .string(tasks.comm(s.pid))), ("event", .string(s.event)),
                ("detail", .string(s.detail)), ("memcg", .optional(s.memcg)),
            ])
        }
        fields.append(("steps", .array(list)))
    }
    return .object(fields)
}
