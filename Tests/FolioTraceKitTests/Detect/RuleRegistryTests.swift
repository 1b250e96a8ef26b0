import Testing

@testable import FolioTraceKit

/// The rule registry (one declaration per rule) and the detectors' live drain.
@Suite struct RuleRegistryTests {
    @Test func everyRuleIsDeclaredOnceWithItsRequirementAndThread() {
        #expect(Rule.all.map(\.id) == RuleID.allCases, "Rule.all lists every RuleID once, in RuleID order")
        for rule in Rule.all {
            #expect(rule.requirement.id == rule.id.rawValue)
            #expect(!rule.requirement.needs.isEmpty, "\(rule.id) needs no event?")
            #expect(rule.thread.subject.count > 10 && rule.thread.date.contains(where: \.isNumber))
            // Product text cites threads, never the team's local seed numbers.
            #expect(!rule.explainedWithThread.contains("seed "), "\(rule.id)")
            #expect(rule.explainedWithThread.contains(rule.thread.subject))
        }
        let stageIDs = Set(AnalysisRequirement.stages.map(\.id))
        #expect(stageIDs.isDisjoint(with: RuleID.allCases.map(\.rawValue)))
        #expect(AnalysisRequirement.all.count == AnalysisRequirement.stages.count + Rule.all.count)
    }

    /// A live session handles records a little out of time order, so findings can arrive with
    /// timestamps older than ones already printed. Draining hands out each finding once,
    /// whatever the order; re-sorting the whole list and skipping the count already printed
    /// (what tail did) prints one twice and skips another.
    @Test func drainingHandsOutEachFindingOnceWhateverTheOrder() throws {
        let file = try TraceFile(path: Fixtures.path("linux-6.18/memcg-reclaim-foreign.dat"))
        let catalog = try EventCatalog(file: file)
        var pass = AnalysisPass(
            decoder: try EventDecoder(catalog: catalog, path: file.path),
            savedCommands: file.savedCommands(),
            cgroupPaths: file.options.cgroupPaths,
            enabled: nil
        )
        var transitions: [Transition] = []
        var merged = try file.mergedRecords()
        while let r = try merged.next() {
            if pass.engine.handle(r, pass.decoder.decode(r)) { transitions += pass.engine.transitions }
        }
        #expect(transitions.count > 20, "the fixture's refaults are the test's material")
        // Late arrivals: blocks of seven fed in pairs, the later block first, with a drain
        // after each block, so every other block's findings are older than ones handed out.
        var blocks = stride(from: 0, to: transitions.count, by: 7).map {
            transitions[$0..<min($0 + 7, transitions.count)]
        }
        for i in stride(from: 0, to: blocks.count - 1, by: 2) { blocks.swapAt(i, i + 1) }
        var detectors = DetectorSet()
        var drained: [String] = []
        var printedWithResort: [String] = []
        var resortSeen = 0
        for block in blocks {
            for t in block { detectors.observe(t) }
            drained += detectors.drainNew().map(key)
            let all = detectors.findings
            printedWithResort += all.dropFirst(resortSeen).map(key)
            resortSeen = all.count
        }
        let final = Set(detectors.findings.map(key))
        #expect(final.count > 20)
        #expect(drained.count == final.count && Set(drained) == final, "each finding once")
        let printedOnce = Set(printedWithResort)
        #expect(printedOnce.count < printedWithResort.count, "the old way prints some finding twice")
        #expect(printedOnce.count < final.count, "and skips another")
    }

    private func key(_ f: Finding) -> String {
        "\(f.rule) \(f.folio.pfn) \(f.timestamp) \(f.evidence.map(\.timestamp))"
    }
}
