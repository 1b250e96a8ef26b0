/// How bad a finding is, for CI gates (`--fail-on`).
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case info, warning, error

    private var rank: Int {
        switch self {
        case .info: return 0
        case .warning: return 1
        case .error: return 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A rule's id. The raw values are part of the interface (reports, `--fail-on` gates,
/// baselines, the SQLite export): keep them.
public enum RuleID: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case chargeMoveUnmapped = "charge-move-unmapped"
    case foreignRefault = "foreign-refault-after-memcg-reclaim"
    case mlockRestoredByReclaim = "mlock-restored-by-reclaim"
    case foreignReferenceRescue = "foreign-reference-rescue"
    case freedWhileIsolated = "freed-while-isolated"
    case chargeLifecycleViolation = "charge-lifecycle-violation"

    public var description: String { rawValue }
    public static func < (a: RuleID, b: RuleID) -> Bool { a.rawValue < b.rawValue }
}

/// A linux-mm discussion a rule comes from, cited by subject, authors, list and date (the
/// thread itself, which a reader can find in the list's archive).
public struct MailingListThread: Sendable, Equatable {
    public var subject: String
    public var authors: String
    public var list = "linux-mm"
    public var date: String

    /// `"[PATCH] mm: ...", Johannes Weiner and Hugh Dickins, linux-mm, November 2022`.
    public var citation: String { "\"\(subject)\", \(authors), \(list), \(date)" }
}

/// A detector's identity, explanation, source and needs: one declaration per rule, beside its
/// detector (`extension Rule` in Detect/), listed once in `all`.
public struct Rule: Sendable {
    public var id: RuleID
    public var severity: Severity
    /// One line for tables.
    public var title: String
    /// The pattern and the kernel behaviour (with the functions and versions) it depends on.
    public var explanation: String
    /// The linux-mm thread the pattern comes from.
    public var thread: MailingListThread
    /// The events the rule needs; the requirement's id is the rule's.
    public var requirement: AnalysisRequirement
    /// What a verdict on each folio shape needs beyond those events, in the order a folio is
    /// checked against them (`CaptureProbes.notJudged`): folios a capture cannot judge are
    /// counted as not judged, by the first unmet need's reason. Empty: every shape is judged
    /// alike.
    public var judges: [FolioNeed]

    init(
        _ id: RuleID,
        severity: Severity,
        title: String,
        thread: MailingListThread,
        explanation: String,
        needs: [[String]],
        anyOf: [(part: String, needs: [[String]])] = [],
        judges: [FolioNeed] = []
    ) {
        self.id = id
        self.judges = judges
        self.severity = severity
        self.title = title
        self.thread = thread
        self.explanation = explanation
        requirement = AnalysisRequirement(id: id.rawValue, summary: title, needs: needs, anyOf: anyOf)
    }

    /// The explanation and the thread it comes from, as reports print them.
    public var explainedWithThread: String { explanation + " From the thread " + thread.citation + "." }

    /// What a report says a trace lacks for this rule (see `AnalysisRequirement.lacking`).
    public func lacking(_ missing: [String], show: (String) -> String = { $0 }) -> String {
        requirement.lacking(missing, show: show)
    }

    /// The folio shapes `capture` cannot judge for this rule, and why.
    public func unjudged(in capture: CaptureProbes) -> [FolioGap] { capture.unjudged(under: judges) }

    /// Every rule, in report order: adding a rule adds one line here.
    public static let all: [Rule] = [
        chargeMoveUnmapped, foreignRefault, mlockRestoredByReclaim, foreignReferenceRescue, freedWhileIsolated,
        chargeLifecycleViolation,
    ]
}

/// One detected instance of a rule, with the events that prove it.
public struct Finding: Sendable {
    public var rule: RuleID
    public var severity: Severity
    public var folio: FolioRef
    /// The memcg whose folio it is (the one charged before: the move's source, the evicting
    /// memcg) and the other memcg involved (the move's target, the refaulting memcg).
    public var memcg: UInt64?
    public var otherMemcg: UInt64?
    /// When it happened (the last evidence).
    public var timestamp: UInt64
    /// What made it a finding, in a sentence.
    public var message: String
    public var evidence: [Evidence]
}
