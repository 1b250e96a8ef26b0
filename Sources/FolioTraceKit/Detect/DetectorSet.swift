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

    public init() {}

    public mutating func observe(_ transition: Transition) {
        switch transition {
        case .chargeMoved(let m): chargeMoves.observe(m)
        case .refaulted(let r): foreignRefaults.observe(r)
        case .mlockRestored(let m): mlockRestores.observe(m)
        case .foreignReference(let f): foreignReferences.observe(f)
        case .freedWhileIsolated(let f): isolatedFrees.observe(f)
        case .freedWhileMapped(let f): chargeLifecycle.observe(f)
        case .freedInPageCache(let f): chargeLifecycle.observe(f)
        }
    }

    /// The findings of every rule, in time order.
    public var findings: [Finding] {
        (chargeMoves.findings + foreignRefaults.findings + mlockRestores.findings + foreignReferences.findings
            + isolatedFrees.findings + chargeLifecycle.findings)
            .sorted {
                $0.timestamp < $1.timestamp
            }
    }

    /// Counts that put findings in proportion, by rule id.
    public var context: [String: [(String, UInt64)]] {
        [
            Rule.chargeMoveUnmapped.id: [
                ("unmapped moves", UInt64(chargeMoves.findings.count)),
                ("mapped moves", chargeMoves.mappedMoves),
                ("moves whose mapping the trace does not show", chargeMoves.undecidedMoves),
            ],
            Rule.foreignRefault.id: foreignRefaults.totals.sorted {
                ($0.key.evictedFrom, $0.key.inode) < ($1.key.evictedFrom, $1.key.inode)
            }
            .map { k, v in ("memcg \(k.evictedFrom) -> \(k.refaultedInto) ino \(k.inode): pages", v.pages) },
            Rule.mlockRestoredByReclaim.id: mlockRestores.context,
            Rule.foreignReferenceRescue.id: foreignReferences.context,
            Rule.freedWhileIsolated.id: isolatedFrees.context,
            Rule.chargeLifecycleViolation.id: chargeLifecycle.context,
        ]
    }
}
