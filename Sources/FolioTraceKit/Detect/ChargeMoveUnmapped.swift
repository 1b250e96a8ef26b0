/// `charge-move-unmapped`: charge moves of pages that no page table maps (seed 000).
///
/// Watches `Transition.chargeMoved`; a move whose page was unmapped is a finding, mapped
/// ones are counted so the report shows the proportion, and moves whose mapping the trace
/// cannot tell are counted apart (never guessed).
struct ChargeMoveUnmappedDetector {
    private(set) var findings: [Finding] = []
    private(set) var mappedMoves: UInt64 = 0
    private(set) var undecidedMoves: UInt64 = 0

    mutating func observe(_ move: ChargeMove) {
        switch move.mapped {
        case true?:
            mappedMoves += 1
        case nil:
            undecidedMoves += 1
        case false?:
            let rule = Rule.chargeMoveUnmapped
            findings.append(
                Finding(
                    rule: rule.id,
                    severity: rule.severity,
                    folio: move.folio,
                    memcg: move.fromMemcg,
                    otherMemcg: move.toMemcg,
                    timestamp: move.evidence.timestamp,
                    message:
                        "charge moved from memcg \(move.fromMemcg.map(String.init) ?? "?") to \(move.toMemcg.map(String.init) ?? "?") while unmapped (\(move.mappedBecause))",
                    evidence: [move.evidence]
                )
            )
        }
    }
}
