/// What the analyses need, stages and rules together: the one list coverage, `events`,
/// `record` and `tail` consult.
extension AnalysisRequirement {
    /// The lifecycle stages' requirements, then each rule's.
    public static let all: [AnalysisRequirement] = stages + Rule.all.map(\.requirement)

    /// The analyses a capture cannot run for lack of `missing` events (given as
    /// "system:event"): those with a group whose every event is missing.
    public static func disabled(byMissing missing: Set<String>) -> [String] {
        func blocked(_ needs: [[String]]) -> Bool { needs.contains { group in group.allSatisfy(missing.contains) } }
        return all.filter { r in blocked(r.needs) || (!r.anyOf.isEmpty && r.anyOf.allSatisfy { blocked($0.needs) }) }
            .map(\.id)
    }

}

extension UnmodelledEvent {
    /// The analyses that lose this event (those whose requirements name it, a probe by its
    /// function).
    public var analyses: [String] {
        var names = [event]
        if let colon = event.firstIndex(of: ":"),
            let f = KprobeFunction(eventName: String(event[event.index(after: colon)...]))
        {
            names.append("kprobe:" + f.rawValue)
        }
        return AnalysisRequirement.all.filter { r in
            (r.needs + r.anyOf.flatMap(\.needs)).contains { group in names.contains(where: group.contains) }
        }.map(\.id)
    }
}
