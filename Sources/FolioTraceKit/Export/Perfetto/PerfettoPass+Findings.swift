/// Findings as instants, with flows from their evidence events.
extension PerfettoPass {
    /// Writes the findings and evidence events due by `ts`: evidence as instants on its
    /// task's track, each with a flow to its finding's instant on the rule's track.
    mutating func drainItems(upTo ts: UInt64) {
        while nextItem < items.count, items[nextItem].ts <= ts {
            let item = items[nextItem]
            nextItem += 1
            let f = analysis.findings[item.finding]
            let base = evidenceFlows[item.finding]
            if item.evidence >= 0 {
                let e = f.evidence[item.evidence]
                let id = base + UInt64(item.evidence)
                let early = e.timestamp <= f.timestamp
                writer.event(
                    item.ts,
                    type: E.typeInstant,
                    track: thread(e.pid),
                    name: e.event,
                    annotations: [("cpu", .int(Int64(e.cpu))), ("evidence_of", .string(f.rule.rawValue))],
                    flows: early ? [id] : [],
                    terminatingFlows: early ? [] : [id]
                )
                result.evidenceFlows += 1
                continue
            }
            let ruleIndex = analysis.coverage.firstIndex { $0.rule.id == f.rule } ?? 0
            var args: [(String, PerfettoValue)] = [
                ("severity", .string(f.severity.rawValue)), ("pfn", .uint(f.folio.pfn)),
                ("generation", .uint(UInt64(f.folio.generation))), ("order", .uint(UInt64(f.folio.order))),
            ]
            if let m = f.memcg { args.append(("memcg", .uint(m))) }
            if let m = f.otherMemcg { args.append(("other_memcg", .uint(m))) }
            if let p = f.folio.filePage {
                args.append(("inode", .uint(p.inode)))
                args.append(("index", .uint(p.index)))
            }
            args.append(("message", .string(f.message)))
            let ids = f.evidence.indices.map { (j: Int) in (j, base + UInt64(j)) }
            writer.event(
                item.ts,
                type: E.typeInstant,
                track: PerfettoTrack.rule(ruleIndex),
                name: f.rule.rawValue,
                annotations: args,
                flows: ids.filter { f.evidence[$0.0].timestamp > f.timestamp }.map(\.1),
                terminatingFlows: ids.filter { f.evidence[$0.0].timestamp <= f.timestamp }.map(\.1)
            )
        }
    }
}
