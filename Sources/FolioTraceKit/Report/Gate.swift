#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How much a rule's finding count may grow over the baseline before the gate fails:
/// `--tolerance 5` (findings) or `--tolerance 10%` (of the baseline's count).
public struct Tolerance: Sendable, Equatable, CustomStringConvertible {
    public var findings: Int = 0
    public var percent: Double = 0

    public init(findings: Int = 0, percent: Double = 0) {
        self.findings = findings
        self.percent = percent
    }

    /// Parses `N` or `N%`; nil when it is neither.
    public init?(_ text: String) {
        if text.hasSuffix("%") {
            guard let p = Double(text.dropLast()), p >= 0, p.isFinite else { return nil }
            percent = p
        } else {
            guard let n = Int(text), n >= 0 else { return nil }
            findings = n
        }
    }

    /// The most findings allowed when the baseline had `base`.
    public func allowed(over base: Int) -> Int {
        base + max(findings, Int((Double(base) * percent / 100).rounded(.up)))
    }

    public var description: String {
        guard percent > 0 else { return "\(findings)" }
        // 10 -> "10%", 12.5 -> "12.5%" (no trailing ".0").
        return percent == percent.rounded() && percent < 1e15 ? "\(Int64(percent))%" : "\(percent)%"
    }
}

/// The per-rule finding counts of an earlier report (`analyze --format json`), for
/// `--baseline`. Finding identities (pfns, memcg ids) differ from one capture to the next,
/// so runs are compared rule by rule.
public struct Baseline: Sendable {
    public var path: String
    public var counts: [String: Int]
    public var schemaVersion: Int?

    /// Reads the JSON report at `path`.
    /// - Throws: `FileError` naming the file when it is missing or not such a report.
    public init(path: String) throws(FileError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileError(path: path, problem: "cannot read the baseline report (missing or unreadable)")
        }
        guard let object = try? JSONDecoder().decode(CountedReport.self, from: data) else {
            throw FileError(
                path: path,
                problem: "not a foliotrace JSON report (not a JSON object): write one with analyze --format json"
            )
        }
        let version = try Self.schemaVersion(of: data, path: path)
        guard let findings = object.findings else {
            throw FileError(
                path: path,
                problem: "not a foliotrace JSON report (no \"findings\" list): write one with analyze --format json"
            )
        }
        schemaVersion = version
        var counts: [String: Int] = [:]
        for f in findings { if let rule = f.rule { counts[rule, default: 0] += 1 } }
        // Reports list every finding, but the per-rule totals in "coverage" are authoritative.
        for c in object.coverage ?? [] {
            if let rule = c.rule, let n = c.findings { counts[rule] = n }
        }
        self.counts = counts
    }

    /// The members of a JSON report that `--baseline` counts, each read only when it has the
    /// expected type (a list of objects; a string rule; an integer count), as a loose reader
    /// of an earlier report must. Decoding fails only when the top level is not an object.
    private struct CountedReport: Decodable {
        struct Entry: Decodable {
            var rule: String?
            var findings: Int?
            enum Key: String, CodingKey { case rule, findings }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: Key.self)
                rule = try? c.decode(String.self, forKey: .rule)
                findings = try? c.decode(Int.self, forKey: .findings)
            }
        }
        var findings: [Entry]?
        var coverage: [Entry]?
        enum Key: String, CodingKey { case findings, coverage }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            findings = try? c.decode([Entry].self, forKey: .findings)
            coverage = try? c.decode([Entry].self, forKey: .coverage)
        }
    }

    /// The report's `schema_version`, which must be a number equal to the one this
    /// foliotrace writes (`JSONReport.schemaVersion`): the counts of another version's report
    /// may not mean the same.
    static func schemaVersion(of data: Data, path: String) throws(FileError) -> Int {
        let expected = JSONReport.schemaVersion
        let wanted =
            "foliotrace reads reports with \"schema_version\": \(expected) (write one with analyze --format json)"
        // JSONDecoder, not JSONSerialization: the latter gives true and 1 as the same NSNumber.
        let found = (try? JSONDecoder().decode(VersionField.self, from: data))?.value
        switch found {
        case nil:
            throw FileError(
                path: path,
                problem: "not a foliotrace JSON report (no \"schema_version\"): \(wanted)"
            )
        case .number(let n) where n == expected:
            return n
        case .number(let n):
            throw FileError(path: path, problem: "\"schema_version\" is \(n), not \(expected); \(wanted)")
        case .text(let t):
            throw FileError(
                path: path,
                problem: "\"schema_version\" is the string \"\(t.prefix(40))\", not a number; \(wanted)"
            )
        case .other:
            throw FileError(path: path, problem: "\"schema_version\" is not an integer; \(wanted)")
        }
    }

    /// The `schema_version` member of a JSON object, whatever its type.
    private struct VersionField: Decodable {
        enum Value {
            case number(Int)
            case text(String)
            case other
        }
        var value: Value?
        enum Key: String, CodingKey { case schema_version }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            guard c.contains(.schema_version) else { return }
            if let n = try? c.decode(Int.self, forKey: .schema_version) {
                value = .number(n)
            } else if let t = try? c.decode(String.self, forKey: .schema_version) {
                value = .text(t)
            } else {
                value = .other
            }
        }
    }

    public init(path: String, counts: [String: Int]) {
        self.path = path
        self.counts = counts
    }
}

/// What the gate decides for one rule.
public struct RuleOutcome: Sendable {
    public enum Change: String, Sendable {
        /// No baseline given.
        case none
        /// Findings now, none in the baseline.
        case new
        /// Findings in the baseline, none now.
        case gone
        case grew, shrank, same
    }

    public var rule: Rule
    public var runnable: Bool
    public var missing: [String]
    public var findings: Int
    public var baseline: Int?
    public var change: Change
    /// Whether this rule fails the gate.
    public var failed: Bool
    /// Why it failed, for JUnit and the headline.
    public var reason: String?
    /// Folios the rule could not judge, by reason (exact or silent: each is counted, never a
    /// finding): `TraceAnalysis.notJudged`.
    public var notJudged: [(reason: String, count: UInt64)] = []

    /// Folio shapes the capture's probes cannot judge for this rule, whether or not any was
    /// met (`Rule.judges`).
    public var unjudged: [FolioGap] = []

    /// "cannot judge PMD-mapped THP folios: REASON; ...", or nil when every shape is judged.
    public var unjudgedText: String? {
        guard !unjudged.isEmpty else { return nil }
        return "cannot judge " + unjudged.map { "\($0.shapesText): \($0.reason)" }.joined(separator: "; ")
    }

    /// All folios not judged.
    public var notJudgedTotal: UInt64 { notJudged.reduce(0) { $0 + $1.count } }

    /// "N not judged: REASON: n; ...", or nil when every folio was judged.
    public var notJudgedText: String? {
        guard notJudgedTotal > 0 else { return nil }
        return "\(notJudgedTotal) not judged: " + notJudged.map { "\($0.reason): \($0.count)" }.joined(separator: "; ")
    }
}

/// The gate's decision for a whole report: per rule, and overall. Every renderer shows it,
/// and `analyze` exits 1 when it failed.
public struct Verdict: Sendable {
    public var outcomes: [RuleOutcome]
    public var failOn: Severity?
    public var baseline: Baseline?
    public var tolerance: Tolerance

    /// `--require-rules`: a rule the trace cannot run fails the gate (a CI job that must not
    /// pass on a capture that lost its probes).
    public var requireRules: Bool
    /// `--fail-on-damage`: a damaged file fails the gate, whatever its findings.
    public var failOnDamage: Bool
    /// What the input says about how far findings can be trusted: damage, memory events that
    /// could not be decoded, none at all.
    public var inputNotes: InputNotes

    public var failed: Bool { outcomes.contains { $0.failed } || damageFailed }
    /// Whether the gate failed because the file is damaged.
    public var damageFailed: Bool { failOnDamage && inputNotes.mayBeIncomplete }

    /// Without a baseline, a rule fails when it has findings and its severity reaches
    /// `failOn`. With one, only when its count grew beyond the tolerance (new findings
    /// included), at `failOn` or, when that is not given, at any severity. A rule that cannot
    /// run fails only with `requireRules`.
    public init(
        _ a: TraceAnalysis,
        failOn: Severity?,
        baseline: Baseline? = nil,
        tolerance: Tolerance = .init(),
        requireRules: Bool = false,
        failOnDamage: Bool = false
    ) {
        self.failOn = failOn
        self.baseline = baseline
        self.tolerance = tolerance
        self.requireRules = requireRules
        self.failOnDamage = failOnDamage
        inputNotes = InputNotes(
            damage: a.damage,
            unverifiable: a.unverifiable,
            clockNote: a.clockNote,
            memoryGap: a.memoryGap,
            unmodelled: a.unmodelled,
            memoryEvents: a.memoryEvents
        )
        var counts: [RuleID: Int] = [:]
        for f in a.findings { counts[f.rule, default: 0] += 1 }
        let threshold = failOn ?? (baseline == nil ? nil : .info)
        outcomes = a.coverage.map { c in
            let n = counts[c.rule.id] ?? 0
            let gated = threshold.map { c.rule.severity >= $0 } ?? false
            var o = RuleOutcome(
                rule: c.rule,
                runnable: c.runnable,
                missing: c.missing,
                findings: n,
                baseline: nil,
                change: .none,
                failed: false
            )
            o.unjudged = c.unjudged
            o.notJudged = (a.notJudged[c.rule.id] ?? []).filter { $0.count > 0 }
            if let baseline {
                let base = baseline.counts[c.rule.id.rawValue] ?? 0
                o.baseline = base
                o.change =
                    n == base ? .same : base == 0 ? .new : n == 0 ? .gone : n > base ? .grew : .shrank
                let allowed = tolerance.allowed(over: base)
                if gated, n > allowed {
                    o.failed = true
                    o.reason =
                        base == 0
                        ? "\(n) new finding(s), none in the baseline"
                        : "\(n) findings, baseline \(base) (tolerance \(tolerance): at most \(allowed))"
                }
            } else if gated, n > 0 {
                o.failed = true
                o.reason = "\(n) finding(s) at severity \(c.rule.severity.rawValue)"
            }
            if requireRules, !c.runnable {
                o.failed = true
                o.reason =
                    "not checked (--require-rules): the trace lacks \(c.rule.lacking(c.missing))"
            }
            return o
        }
    }

    /// One line: what a CI job summary starts with.
    public var headline: String {
        let total = outcomes.reduce(0) { $0 + $1.findings }
        let unchecked = outcomes.filter { !$0.runnable }.count
        var line: String
        if failed {
            let rules =
                outcomes.filter(\.failed).map(\.rule.id.rawValue)
                + (damageFailed ? ["input may be incomplete (--fail-on-damage)"] : [])
            line = "FAIL: \(rules.joined(separator: ", "))"
        } else if inputNotes.memoryEvents == 0 {
            return "PASS: no memory events in this trace, nothing to judge; "
                + (inputNotes.memoryGap.map { $0 + "; " } ?? "")
                + "record kmem, pagemap, filemap, vmscan and migrate events (foliotrace record --preset all)"
                + (inputNotes.damage.isEmpty ? "" : "; the file is damaged")
        } else if total == 0 {
            line = "PASS: no findings"
        } else {
            line =
                "PASS: \(total) finding(s), none "
                + (baseline == nil ? "at the gate's severity" : "beyond the baseline")
            if failOn == nil, baseline == nil { line = "\(total) finding(s) (no --fail-on gate)" }
        }
        if unchecked > 0 { line += "; \(unchecked) rule(s) not checked (the trace lacks their events)" }
        if !inputNotes.damage.isEmpty {
            line += "; the file is damaged: findings may be incomplete"
        } else if inputNotes.unverifiable != nil {
            line += "; findings may be incomplete (the file cannot show that it is whole)"
        }
        return line
    }
}

/// What a report says about its input before its findings: whether the file was whole, and
/// which memory events it holds that foliotrace could not decode.
public struct InputNotes: Sendable {
    /// `TraceAnalysis.damage`.
    public var damage: [String]
    /// `TraceAnalysis.unverifiable`.
    public var unverifiable: String?
    /// `TraceAnalysis.clockNote`.
    public var clockNote: String? = nil
    /// `TraceAnalysis.memoryGap`.
    public var memoryGap: String?
    /// `TraceAnalysis.unmodelled`.
    public var unmodelled: [UnmodelledEvent]
    /// `TraceAnalysis.memoryEvents`.
    public var memoryEvents: UInt64

    /// Whether the file may hold less than the capture did: damaged, or unverifiable.
    public var mayBeIncomplete: Bool { !damage.isEmpty || unverifiable != nil }

    /// The notes as lines for people ("damage: ...", "not modelled: ...").
    public var lines: [String] {
        damage.map { "damaged: " + $0 } + (unverifiable.map { ["completeness not verifiable: " + $0] } ?? [])
            + (clockNote.map { ["clock: " + $0] } ?? [])
            + unmodelled.map { u in
                "not modelled: \(u.event) (\(u.reason))"
                    + (u.analyses.isEmpty ? "" : "; \(u.analyses.joined(separator: ", ")) lose it")
            }
    }
}
