/// One rule's findings aggregated for tables: the most frequent memcg pairs and inodes.
/// Reports show these rather than every finding, so they stay small however large the trace.
struct RuleBreakdown {
    let findings: [Finding]
    /// "A -> B" memcg pairs (the folio's memcg, the other one; "A" for rules with no other
    /// memcg), most findings first.
    let memcgPairs: [(label: String, count: Int)]
    let inodes: [(inode: UInt64, count: Int)]

    init(_ a: TraceAnalysis, rule: RuleID, top: Int = 5) {
        findings = a.findings.filter { $0.rule == rule }
        var pairs: [String: Int] = [:]
        var inodes: [UInt64: Int] = [:]
        for f in findings {
            let memcg = f.memcg.map(String.init) ?? "?"
            pairs[f.otherMemcg.map { "\(memcg) -> \($0)" } ?? memcg, default: 0] += 1
            if let ino = f.folio.filePage?.inode { inodes[ino, default: 0] += 1 }
        }
        memcgPairs = pairs.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(top).map { ($0.key, $0.value) }
        self.inodes = inodes.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(top).map { ($0.key, $0.value) }
    }
}
