/// The events each analysis needs, so a report can say what a trace lacks instead of guessing.
///
/// Decode knows the stages' requirements only; `AnalysisRequirement.all` (Analysis/) adds
/// the rules'. A requirement is a list of groups; every group must be satisfied by at least one of its
/// events occurring in the trace. Kprobe events are named `kprobe:FUNCTION` here, whatever
/// group they were defined in.
public struct AnalysisRequirement: Sendable {
    /// A stable id: the lifecycle stages, and the detector rule ids.
    public var id: String
    public var summary: String
    public var needs: [[String]]
    /// Ways to run the analysis in part, each named by what it finds and with a list of groups
    /// as `needs`: with any, the analysis runs when `needs` and at least one of them are
    /// satisfied, and the others' missing groups are still reported (the part of it they would
    /// run is off).
    public var anyOf: [(part: String, needs: [[String]])] = []

    /// Whether the events present satisfy the requirement, and the groups missing (each group
    /// as "a|b", or "kprobe:<rmap function>" for the long list of rmap probes): runnable with
    /// groups missing means runnable in part.
    public func check(_ present: Set<String>) -> (runnable: Bool, missing: [String]) {
        let base = Self.missing(needs, present)
        guard !anyOf.isEmpty else { return (base.isEmpty, base) }
        let parts = anyOf.map { Self.missing($0.needs, present) }
        var missing = base
        for group in parts.joined() where !missing.contains(group) { missing.append(group) }
        return (base.isEmpty && parts.contains(where: \.isEmpty), missing)
    }

    private static func missing(_ needs: [[String]], _ present: Set<String>) -> [String] {
        needs.filter { group in !group.contains { present.contains($0) } }.map(name)
    }

    /// A group as reports name it.
    private static func name(_ group: [String]) -> String {
        switch group {
        case AnalysisRequirement.rmapProbes: return "kprobe:<rmap function>"
        case AnalysisRequirement.rmapMapProbes: return "kprobe:<rmap map function>"
        case AnalysisRequirement.rmapUnmapProbes: return "kprobe:<rmap unmap function>"
        default: return group.joined(separator: "|")
        }
    }

    /// What a report says a trace lacks (`missing` as `check` gave it): the groups, and for an
    /// analysis that runs in more than one way, which part each would turn on ("a, b for frees
    /// while mapped; c for frees in the page cache").
    /// - Parameter show: how to write one group (Markdown quotes each event).
    public func lacking(_ missing: [String], show: (String) -> String = { $0 }) -> String {
        guard !anyOf.isEmpty else { return missing.map(show).joined(separator: ", ") }
        let baseNames = Set(needs.map(Self.name))
        var sentences = [missing.filter(baseNames.contains).map(show).joined(separator: ", ")].filter { !$0.isEmpty }
        for (part, needs) in anyOf {
            let names = Set(needs.map(Self.name))
            let lacked = missing.filter { names.contains($0) && !baseNames.contains($0) }
            if !lacked.isEmpty { sentences.append(lacked.map(show).joined(separator: ", ") + " for " + part) }
        }
        return sentences.joined(separator: "; ")
    }

    /// The rmap kprobe events by what they do, as requirement groups name them.
    public static let rmapProbes = KprobeFunction.allCases.filter(\.isRmap).map { "kprobe:" + $0.rawValue }
    public static let rmapMapProbes = KprobeFunction.allCases.filter { $0.isRmap && $0.rmapAction != .remove }
        .map { "kprobe:" + $0.rawValue }
    public static let rmapUnmapProbes = KprobeFunction.allCases.filter { $0.rmapAction == .remove }
        .map { "kprobe:" + $0.rawValue }

    /// The lifecycle stages' requirements (the rules' are theirs: `Rule.requirement`).
    public static let stages: [AnalysisRequirement] = [
        .init(
            id: "lifecycle",
            summary: "folio generations from allocation to free",
            needs: [["kmem:mm_page_alloc"], ["kmem:mm_page_free"]]
        ),
        .init(
            id: "page-cache",
            summary: "page-cache membership (dev, inode, index)",
            needs: [["filemap:mm_filemap_add_to_page_cache"], ["filemap:mm_filemap_delete_from_page_cache"]]
        ),
        .init(
            id: "lru",
            summary: "LRU insertions and activations",
            needs: [["pagemap:mm_lru_insertion"]]
        ),
        .init(
            id: "migration",
            summary: "migrations joined old pfn -> new pfn",
            needs: [
                ["migrate:mm_migrate_pages_start"], ["migrate:mm_migrate_pages"],
                ["migrate:set_migration_pte", "thp:set_migration_pmd"],
                ["migrate:remove_migration_pte", "thp:remove_migration_pmd"],
            ]
        ),
        .init(
            id: "memcg-exact",
            summary: "exact memcg attribution from stat events or charge probes",
            needs: [
                [
                    "memcg:mod_memcg_lruvec_state", "memcg:mod_memcg_state", "kprobe:charge_memcg",
                    "kprobe:mem_cgroup_move_account",
                ]
            ]
        ),
        .init(
            id: "memcg-inferred",
            summary: "memcg attribution from the tasks' cgroups",
            needs: [["cgroup:cgroup_attach_task", "cgroup:cgroup_mkdir"]]
        ),
        .init(
            id: "rmap",
            summary: "mapping state from rmap kprobes",
            needs: [rmapProbes]
        ),
    ]
}

extension EventCatalog {
    /// The requirement names a trace satisfies, given its record counts by event id: every
    /// event that occurred, and every kprobe the capture defined even if it never fired (its
    /// format is in the file, so the probe was there: its silence is the kernel's answer,
    /// e.g. no young-bit check in a foreign VMA on 5.11+).
    /// - Parameter enabled: "system:event" names the capture says it enabled: on, so silent.
    public func requirementNamesPresent(counts: [UInt64], enabled: Set<String>? = nil) -> Set<String> {
        var present = Set<String>()
        for t in types
        where t.isKprobe || (Int(t.id) < counts.count && counts[Int(t.id)] > 0) || enabled?.contains(t.fullName) == true
        {
            present.formUnion(requirementNames(of: t))
        }
        return present
    }

    /// The names under which an event type counts for `AnalysisRequirement`: its own
    /// "system:name", and "kprobe:FUNCTION" for a probe of a known function.
    public func requirementNames(of type: EventType) -> [String] {
        var names = [type.fullName]
        if type.isKprobe, let f = KprobeFunction(eventName: type.name) { names.append("kprobe:" + f.rawValue) }
        return names
    }
}
