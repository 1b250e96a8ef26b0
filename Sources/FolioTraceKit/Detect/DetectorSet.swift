/// All detectors, fed the engine's transitions in order.
///
/// A struct with one field per detector and a switch, not a list of existentials: the set
/// is fixed and small, and each transition goes to the one detector that wants it.
public struct DetectorSet {
    private var chargeMoves = ChargeMoveUnmappedDetector()
    private var foreignRefaults = ForeignRefaultDetector()
    private var mlockRestores = MlockRestoredByReclaimDetector()
    private var foreignReferences = ForeignReferenceRescueDetector()
    private var isolatedFrees = FreedWhileIsolatedDetector()
    private var chargeLifecycle = ChargeLifecycleViolationDetector()
    /// How many of each detector's findings `drainNew()` has handed out, in `lists` order.
    private var drained: [Int] = []

    public init() {}

    public mutating func observe(_ transition: Transition) {
        switch transition {
        case .chargeMoved(let m): chargeMoves.observe(m)
        case .refaulted(let r): foreignRefaults.observe(r)
        case .mlockRestored(let m): mlockRestores.observe(m)
        case .reclaimReference(let f): foreignReferences.observe(f)
        case .freedWhileIsolated(let f): isolatedFrees.observe(f)
        case .freedWhileMapped(let f): chargeLifecycle.observe(f)
        case .freedInPageCache(let f): chargeLifecycle.observe(f)
        case .freeNotJudged(let f): chargeLifecycle.observe(f)
        }
    }

    /// Each detector's findings, in `Rule.all` order. A detector only appends to its list.
    private var lists: [[Finding]] {
        [
            chargeMoves.findings, foreignRefaults.findings, mlockRestores.findings, foreignReferences.findings,
            isolatedFrees.findings, chargeLifecycle.findings,
        ]
    }

    /// The findings of every rule, in time order (a tie in rule order).
    public var findings: [Finding] { lists.joined().sorted { $0.timestamp < $1.timestamp } }

    /// The findings made since the last call, in time order: each detector's list only grows,
    /// so what is new is its tail, whatever the timestamps of records handled late (live
    /// input).
    public mutating func drainNew() -> [Finding] {
        var new: [Finding] = []
        if drained.isEmpty { drained = [Int](repeating: 0, count: lists.count) }
        for (i, list) in lists.enumerated() where list.count > drained[i] {
            new += list[drained[i]...]
            drained[i] = list.count
        }
        return new.sorted { $0.timestamp < $1.timestamp }
    }

    /// Folios each rule met and could not judge, by reason (exact or silent: counted, never
    /// a finding); also in `context` as "not judged: REASON" for the reports' tables.
    public var notJudged: [RuleID: [(reason: String, count: UInt64)]] {
        [
            .chargeMoveUnmapped: Self.byReason(chargeMoves.notJudged),
            .chargeLifecycleViolation: Self.byReason(chargeLifecycle.notJudged),
            .foreignReferenceRescue: Self.byReason(foreignReferences.notJudged),
        ]
    }

    /// Counts by reason, in reason order.
    static func byReason(_ counts: [String: UInt64]) -> [(reason: String, count: UInt64)] {
        counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Counts that put findings in proportion, by rule.
    public var context: [RuleID: [(label: String, count: UInt64)]] {
        [
            .chargeMoveUnmapped: [
                ("unmapped moves", UInt64(chargeMoves.findings.count)),
                ("mapped moves", chargeMoves.mappedMoves),
                ("moves whose mapping the trace does not show", chargeMoves.undecidedMoves),
            ] + Self.byReason(chargeMoves.notJudged).map { ("not judged: " + $0.reason, $0.count) },
            .foreignRefault: foreignRefaults.totals.sorted {
                ($0.key.evictedFrom, $0.key.inode) < ($1.key.evictedFrom, $1.key.inode)
            }
            .map { k, v in ("memcg \(k.evictedFrom) -> \(k.refaultedInto) ino \(k.inode): pages", v.pages) },
            .mlockRestoredByReclaim: mlockRestores.context,
            .foreignReferenceRescue: foreignReferences.context,
            .freedWhileIsolated: isolatedFrees.context,
            .chargeLifecycleViolation: chargeLifecycle.context,
        ]
    }
}
