import FolioTraceKit
import Foundation
import Testing

/// Each rule's folio needs (`Rule.judges`), evaluated against captures whose probe
/// definitions the truth files record as the capture wrote them into kprobe_events: what a
/// capture cannot judge is named in coverage before any folio is met, and the folios the
/// engine leaves unjudged are counted under a declared reason.
@Suite struct FolioNeedsTests {
    static func gaps(_ a: TraceAnalysis, _ rule: RuleID) throws -> [FolioGap] {
        try #require(a.coverage.first { $0.rule.id == rule }).unjudged
    }

    static func reason(_ rule: Rule, _ shape: FolioShape) throws -> String {
        try #require(rule.judges.first { $0.shapes.contains(shape) && $0.shapes.count == 1 }).otherwise
    }

    /// 6.12 with folio_remove_rmap_ptes as its only unmap probe: PMD-mapped THPs cannot be
    /// judged (they unmap through folio_remove_rmap_pmd), small folios and PTE-mapped large
    /// ones can (the probe fetches nr_pages). The same run with every rmap probe judges all.
    @Test func aCaptureWithoutThePMDUnmapProbeCannotJudgePMDMappedTHPs() throws {
        let fixture = "linux-6.12/healthy-thp-partial-rmap.dat"
        let kprobes = try Truth(fixture).lines.filter { $0.hasPrefix("p:") }
        #expect(kprobes.contains { $0.contains(" folio_remove_rmap_ptes ") && $0.contains("nr_pages=") })
        #expect(!kprobes.contains { $0.contains("folio_remove_rmap_pmd") || $0.contains("__folio_remove_rmap") })

        let rule = Rule.chargeLifecycleViolation
        let partial = try TraceAnalysis(path: Fixtures.path(fixture))
        #expect(
            try Self.gaps(partial, rule.id) == [
                FolioGap(shapes: [.pmdMappedTHP], reason: Self.reason(rule, .pmdMappedTHP))
            ]
        )
        // The frees the engine left unjudged are counted under that declared reason (or the
        // balance's own: more unmaps than maps), never under one the rule does not state.
        let declared = Set(rule.judges.map(\.otherwise))
        let notJudged = (partial.ruleContext[rule.id] ?? []).filter {
            $0.label.hasPrefix("not judged: ") && $0.count > 0
        }
        let pmdReason = try Self.reason(rule, .pmdMappedTHP)
        #expect(notJudged.contains { $0.label == "not judged: " + pmdReason })
        for (label, _) in notJudged {
            let why = String(label.dropFirst("not judged: ".count))
            #expect(declared.contains(why) || why.hasPrefix("more unmaps than maps"), "\(why)")
        }

        let whole = try TraceAnalysis(path: Fixtures.path("linux-6.12/healthy-thp-all-rmap.dat"))
        #expect(try Self.gaps(whole, rule.id).isEmpty)
    }

    /// 5.10's mem_cgroup_move_account probe fetched page, compound, from and to, no
    /// _mapcount: a small page's move can be seen mapped (the rmap balance) but never
    /// unmapped, so the rule cannot judge small folios; compound is there, so a THP moved
    /// through its PMD is judged. 6.1's probe fetched both: nothing left out.
    @Test func aChargeMoveProbeWithoutMapcountCannotJudgeSmallFolios() throws {
        let rule = Rule.chargeMoveUnmapped
        let without = "linux-5.10/healthy-mix-partial-rmap.dat"
        #expect(
            try Truth(without).lines.contains(
                "p:kprobes/mem_cgroup_move_account mem_cgroup_move_account page=%di compound=%si from=%dx to=%cx"
            )
        )
        let a = try TraceAnalysis(path: Fixtures.path(without))
        #expect(try Self.gaps(a, rule.id) == [FolioGap(shapes: [.small], reason: Self.reason(rule, .small))])
        #expect(!a.findings.contains { $0.rule == rule.id })

        let with = "linux-6.1/healthy-thp-charge-move.dat"
        #expect(
            try Truth(with).lines.contains {
                $0.hasPrefix("p:kprobes/mem_cgroup_move_account") && $0.contains("mapcount=")
            }
        )
        #expect(try Self.gaps(TraceAnalysis(path: Fixtures.path(with)), rule.id).isEmpty)
    }

    /// What coverage says reaches every report: the text, the JSON coverage entry, `events`.
    @Test func everyReportNamesWhatTheCaptureCannotJudge() throws {
        let fixture = "linux-6.12/healthy-thp-partial-rmap.dat"
        let reason = try Self.reason(Rule.chargeLifecycleViolation, .pmdMappedTHP)
        let a = try TraceAnalysis(path: Fixtures.path(fixture))
        let verdict = Verdict(a, failOn: nil)
        #expect(
            TextReport(a, verdict: verdict).rendered.contains(
                "this capture cannot judge PMD-mapped THP folios: " + reason
            )
        )
        #expect(MarkdownReport(a, verdict: verdict).rendered.contains("cannot judge PMD-mapped THP folios: "))
        let rendered = JSONReport.render(a, verdict: verdict).rendered()
        let json = try #require(JSONSerialization.jsonObject(with: Data(rendered.utf8)) as? [String: Any])
        let coverage = try #require(json["coverage"] as? [[String: Any]])
        let entry = try #require(coverage.first { $0["rule"] as? String == "charge-lifecycle-violation" })
        let unjudged = try #require(entry["unjudged"] as? [[String: Any]])
        #expect(unjudged.count == 1 && unjudged.first?["reason"] as? String == reason)
        #expect(unjudged.first?["shapes"] as? [String] == ["PMD-mapped THP"])
        let events = try EventsReport(path: Fixtures.path(fixture))
        #expect(events.text.contains("cannot judge PMD-mapped THP folios: " + reason))
    }

    /// Every rule either declares its folio needs or judges every shape alike; a declared
    /// need names the kernels it follows and a reason a report can print.
    @Test func everyNeedNamesItsKernelsAndItsReason() {
        for rule in Rule.all {
            for need in rule.judges {
                #expect(!need.shapes.isEmpty, "\(rule.id)")
                #expect(need.kernels.contains { $0.isNumber }, "\(rule.id): \(need.kernels)")
                #expect(need.otherwise.count > 20, "\(rule.id)")
            }
        }
        #expect(Rule.chargeLifecycleViolation.judges.count == 3)
        #expect(Rule.chargeMoveUnmapped.judges.count == 2)
    }
}
