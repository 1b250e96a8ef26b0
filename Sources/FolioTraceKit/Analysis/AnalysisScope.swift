/// A moment in a trace, as a user writes it for `--since`/`--until`: seconds as
/// `trace-cmd report` prints them (`3.667611`), a count with a unit (`250ms`, `3667611656ns`),
/// or either after a `+` for a time from the trace's first event (`+1.5`).
public struct TraceTime: Sendable, Equatable {
    public var nanoseconds: UInt64
    /// From the trace's first event rather than on the trace's clock.
    public var fromStart: Bool

    public init(nanoseconds: UInt64, fromStart: Bool = false) {
        self.nanoseconds = nanoseconds
        self.fromStart = fromStart
    }

    /// Parses without floating point, so that a timestamp copied from a report round-trips.
    public init?(_ text: String) {
        var s = Substring(text)
        fromStart = s.first == "+"
        if fromStart { s = s.dropFirst() }
        var scale: UInt64 = 1_000_000_000
        for (unit, ns) in [("ns", UInt64(1)), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)]
        where s.hasSuffix(unit) {
            scale = ns
            s = s.dropLast(unit.count)
            break
        }
        let parts = s.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty || parts.count == 2,
            whole.allSatisfy(\.isASCII), let w = whole.isEmpty ? 0 : UInt64(whole)
        else { return nil }
        var total = w.multipliedReportingOverflow(by: scale)
        guard !total.overflow else { return nil }
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            // Digits beyond the unit's nanosecond resolution are dropped, not rounded.
            var unit = scale
            for digit in fraction {
                unit /= 10
                if unit == 0 { break }
                total.partialValue += UInt64(digit.wholeNumberValue!) * unit
            }
        }
        nanoseconds = total.partialValue
    }
}

/// The part of a trace a report covers. The window is applied while reading (the engine sees
/// the window as if it were the whole trace, so folios alive at its start have unknown
/// beginnings, exactly as in a trace that started there); the memcg and task narrow the
/// findings and the memcg tables after the pass, which still models every folio.
public struct AnalysisScope: Sendable, Equatable {
    public var since: TraceTime?
    public var until: TraceTime?
    /// A memcg as reports print it (`/A`), its cgroup directory, or its id; its children too.
    public var memcg: String?
    public var pid: Int32?

    public init(since: TraceTime? = nil, until: TraceTime? = nil, memcg: String? = nil, pid: Int32? = nil) {
        self.since = since
        self.until = until
        self.memcg = memcg
        self.pid = pid
    }

    public var isWholeTrace: Bool { self == AnalysisScope() }

    /// The window on the trace's clock, once the first event's timestamp is known.
    func bounds(traceStart: UInt64) -> (start: UInt64, end: UInt64) {
        func resolve(_ t: TraceTime) -> UInt64 {
            t.fromStart ? traceStart.addingReportingOverflow(t.nanoseconds).partialValue : t.nanoseconds
        }
        return (since.map(resolve) ?? 0, until.map(resolve) ?? .max)
    }
}

/// What an analysis was narrowed to, for the reports to say.
public struct ResolvedScope: Sendable {
    public var scope: AnalysisScope
    /// The window as applied, on the trace's clock (nil: open on that side).
    public var since: UInt64?
    public var until: UInt64?
    /// The memcg asked for and the ids it stands for (it and its children in the trace).
    public var memcgPath: String?
    public var memcgs: Set<UInt64>?

    /// One line for the text, Markdown and HTML reports.
    public var description: String {
        var parts: [String] = []
        if since != nil || until != nil {
            let from = since.map { "\(seconds($0)) s" } ?? "the start"
            let to = until.map { "\(seconds($0)) s" } ?? "the end"
            parts.append("events from \(from) to \(to) (folios alive at the window's start began before it)")
        }
        if let memcgPath, let memcgs {
            parts.append(
                "findings and memcg rows of memcg \(memcgPath) (\(memcgs.sorted().map(String.init).joined(separator: ", ")))"
            )
        }
        if let pid = scope.pid { parts.append("findings whose evidence names pid \(pid)") }
        return parts.joined(separator: "; ")
    }
}

/// Why a scope cannot be applied to a trace.
public struct ScopeError: Error, CustomStringConvertible {
    public var description: String
}

extension TraceAnalysis {
    /// The ids of the memcg `spec` names and of its children, from the trace's own cgroup
    /// table (a trace read on another machine needs nothing from this one).
    /// - Throws: `ScopeError` naming the memcgs the trace has, when `spec` is none of them.
    public func memcgIDs(_ spec: String) throws(ScopeError) -> (path: String, ids: Set<UInt64>) {
        var paths = report.tasks.cgroupPaths
        for m in report.memcgs where paths[m.id] == nil { paths[m.id] = m.path }
        if let id = UInt64(spec), paths[id] != nil || report.memcgs.contains(where: { $0.id == id }) {
            let path = paths[id]
            let ids = path.map { p in Set(paths.filter { Self.path($0.value, isUnder: p) }.keys) } ?? []
            return (path ?? "id \(id)", ids.union([id]))
        }
        // Any machine's mount points: the trace may come from another one.
        let wanted = CgroupPaths.hierarchyPath(
            spec,
            roots: ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        )
        let ids = Set(paths.filter { Self.path($0.value, isUnder: wanted) }.keys)
        guard !ids.isEmpty else {
            let known = report.memcgs.filter { $0.id != 0 }.map { m in m.path.map { "\($0) (\(m.id))" } ?? "\(m.id)" }
            throw ScopeError(
                description: "\(spec): no such memcg in this trace"
                    + (known.isEmpty
                        ? " (it attributes no folio to a memcg)" : "; it has \(known.joined(separator: ", "))")
            )
        }
        return (wanted, ids)
    }

    private static func path(_ path: String, isUnder ancestor: String) -> Bool {
        ancestor == "/" || path == ancestor || path.hasPrefix(ancestor + "/")
    }

    /// The same analysis with only the findings (and memcg rows, and plotted memcgs) that
    /// concern the scope's memcg and task. The rules' context counts are whole-trace
    /// proportions, so they are left out rather than shown beside narrowed findings.
    /// - Throws: `ScopeError` when the memcg is not in the trace.
    public func narrowed(to scope: AnalysisScope) throws(ScopeError) -> TraceAnalysis {
        var a = self
        var resolved = a.scope ?? ResolvedScope(scope: AnalysisScope())
        resolved.scope.memcg = scope.memcg
        resolved.scope.pid = scope.pid
        if let spec = scope.memcg {
            let (path, ids) = try memcgIDs(spec)
            resolved.memcgPath = path
            resolved.memcgs = ids
            a.findings = a.findings.filter { f in
                f.memcg.map(ids.contains) == true || f.otherMemcg.map(ids.contains) == true
            }
            a.report.memcgs = a.report.memcgs.filter { ids.contains($0.id) }
            a.timeline.keepMemcgs(ids)
        }
        if let pid = scope.pid {
            a.findings = a.findings.filter { f in f.evidence.contains { $0.pid == pid } }
        }
        if scope.memcg != nil || scope.pid != nil {
            a.ruleContext = [:]
            a.notJudged = [:]
        }
        a.scope = resolved.scope.isWholeTrace ? nil : resolved
        return a
    }
}
