import ArgumentParser
import FolioTraceKit

/// `foliotrace folio PFN TRACE`: one pfn's whole story, every generation.
struct Folio: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the story of one pfn: every generation, each step with time, CPU, task and memcg."
    )

    @Argument(help: "The pfn, hex (0x1a2b) or decimal. A tail pfn shows its folio.")
    var pfn: String

    @OptionGroup var input: TraceInput

    var pfnValue: UInt64? {
        pfn.lowercased().hasPrefix("0x") ? UInt64(pfn.dropFirst(2), radix: 16) : UInt64(pfn)
    }

    func validate() throws {
        guard pfnValue != nil else { throw ValidationError("'\(pfn)' is not a pfn: give it in hex (0x...) or decimal") }
    }

    func run() throws {
        let target = pfnValue!
        let analysis = try reportingErrors { try TraceAnalysis(path: input.trace, options: .init(watch: [target])) }
        let story = FolioStory(pfn: target, analysis: analysis)
        switch input.format {
        case .text: print(story.text, terminator: "")
        case .json: print(story.json.rendered())
        }
    }
}

/// The generations of one pfn and their steps.
struct FolioStory {
    let pfn: UInt64
    let generations: [(FolioGeneration, [FolioStep])]
    let tasks: TaskTable

    init(pfn: UInt64, analysis: TraceAnalysis) {
        self.pfn = pfn
        tasks = analysis.report.tasks
        generations = analysis.report.generations
            .filter { pfn >= $0.pfn && pfn < $0.pfn + $0.pages }
            .map { g in (g, analysis.report.steps[FolioStepKey(pfn: g.pfn, generation: g.generation)] ?? []) }
    }

    var json: JSON {
        .object([
            ("pfn", .uint(pfn)),
            ("generations", .array(generations.map { g, steps in generationJSON(g, steps: steps, tasks: tasks) })),
        ])
    }

    var text: String {
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

    private func hex(_ v: UInt64) -> String { String(v, radix: 16) }

    private func seconds(_ ns: UInt64) -> String {
        let frac = String(ns % 1_000_000_000 / 1000)
        return "\(ns / 1_000_000_000)." + String(repeating: "0", count: 6 - frac.count) + frac
    }
}

/// One generation as JSON: the shape `folio --format json` and `analyze --keep-lifecycles`
/// share. `steps` is left out when nil.
func generationJSON(_ g: FolioGeneration, steps: [FolioStep]?, tasks: TaskTable) -> JSON {
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
