/// What a verdict on one kind of folio needs from a capture's probes, stated per rule
/// (`Rule.judges`) and evaluated once per capture (`CaptureProbes`).
///
/// The events a rule needs at all are its `AnalysisRequirement`; these are the finer needs
/// that differ by folio kind, because the kernel maps, unmaps and moves the kinds through
/// different functions: a PMD-mapped THP is unmapped through `folio_remove_rmap_pmd()` (6.8+;
/// `page_remove_rmap(compound=true)` before), a large folio's PTEs are counted by `nr_pages`,
/// and `mem_cgroup_move_account()` says a THP was reached through its PMD only by `compound`.
/// A folio whose kind a capture cannot judge is "not judged", with the need's reason, never a
/// finding and never silently passed.

/// How a folio is mapped, as the rmap functions tell kinds apart.
public enum FolioShape: String, Sendable, CaseIterable, Comparable, Codable {
    /// An order-0 folio: one PTE per mapping.
    case small
    /// A large folio mapped by PTEs (mTHP, a large page-cache folio, a split PMD).
    case pteMappedLarge = "PTE-mapped large"
    /// A THP mapped by one PMD.
    case pmdMappedTHP = "PMD-mapped THP"

    /// Every large shape: a folio of order > 0 whose mapping the trace may not show.
    public static let large: Set<FolioShape> = [.pteMappedLarge, .pmdMappedTHP]

    public static func < (a: FolioShape, b: FolioShape) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One thing a capture's kprobes must give before a rule judges folios of some shapes.
public enum ProbeNeed: Sendable, Equatable {
    /// A probe, with the arguments the decoder reads, on one of these functions.
    case probe(anyOf: [KprobeFunction])
    /// Every probe on these functions fetches one of these arguments (named or positional,
    /// `EventCatalog.kprobe(_:fetches:)`); satisfied when there is no such probe.
    case argument([String], onEveryProbeOf: [KprobeFunction])
}

/// A need of a rule for some folio shapes, the kernels it is stated for, and why a folio of
/// those shapes is not judged without it.
public struct FolioNeed: Sendable {
    public var shapes: Set<FolioShape>
    public var need: ProbeNeed
    /// The kernel versions and functions the need follows ("6.8+: folio_remove_rmap_pmd; up
    /// to 6.7: page_remove_rmap with compound").
    public var kernels: String
    /// The "not judged" reason a report counts such folios under.
    public var otherwise: String

    public init(_ shapes: Set<FolioShape>, _ need: ProbeNeed, kernels: String, otherwise: String) {
        self.shapes = shapes
        self.need = need
        self.kernels = kernels
        self.otherwise = otherwise
    }
}

/// The kprobes of one capture that the decoder models, by function: what `FolioNeed`s are
/// evaluated against. A probe listed as unmodelled (it lacks the argument a decoder needs)
/// sees nothing and counts as absent.
public struct CaptureProbes: Sendable {
    private let catalog: EventCatalog
    private let byFunction: [KprobeFunction: [EventType]]

    /// - Parameter unmodelled: "system:event" names the decoder cannot model.
    public init(_ catalog: EventCatalog, unmodelled: Set<String> = []) {
        self.catalog = catalog
        var byFunction: [KprobeFunction: [EventType]] = [:]
        for t in catalog.types where t.isKprobe && !unmodelled.contains(t.fullName) {
            if let f = KprobeFunction(eventName: t.name) { byFunction[f, default: []].append(t) }
        }
        self.byFunction = byFunction
    }

    /// The modelled probes on these functions, as "system:event", in catalog order.
    public func events(of functions: [KprobeFunction]) -> [String] {
        functions.flatMap { byFunction[$0] ?? [] }.sorted { $0.id < $1.id }.map(\.fullName)
    }

    public func satisfies(_ need: ProbeNeed) -> Bool {
        switch need {
        case .probe(let functions):
            return functions.contains { byFunction[$0]?.isEmpty == false }
        case .argument(let names, let functions):
            return functions.allSatisfy { f in
                (byFunction[f] ?? []).allSatisfy { t in names.contains { catalog.kprobe(t, fetches: $0) } }
            }
        }
    }

    /// Why folios of these shapes cannot be judged under `needs`, or nil: the reason of the
    /// first unmet need, in declaration order, that applies to any of the shapes.
    public func notJudged(_ shapes: Set<FolioShape>, under needs: [FolioNeed]) -> String? {
        needs.first { !$0.shapes.isDisjoint(with: shapes) && !satisfies($0.need) }?.otherwise
    }

    /// The shapes this capture cannot judge under `needs`, grouped by reason in declaration
    /// order: what coverage reports before any folio was met.
    public func unjudged(under needs: [FolioNeed]) -> [FolioGap] {
        var gaps: [FolioGap] = []
        var covered = Set<FolioShape>()
        for n in needs where !satisfies(n.need) {
            let shapes = n.shapes.subtracting(covered)
            guard !shapes.isEmpty else { continue }
            covered.formUnion(shapes)
            gaps.append(FolioGap(shapes: shapes.sorted(), reason: n.otherwise))
        }
        return gaps
    }
}

/// Folio shapes a capture cannot judge for a rule, and why.
public struct FolioGap: Sendable, Equatable, Codable {
    public var shapes: [FolioShape]
    public var reason: String

    public init(shapes: [FolioShape], reason: String) {
        self.shapes = shapes
        self.reason = reason
    }

    /// "large folios" style name of the shapes, for sentences.
    public var shapesText: String {
        shapes.count == FolioShape.allCases.count
            ? "any folio" : shapes.map { $0.rawValue }.joined(separator: " and ") + " folios"
    }
}
