import CSQLite

/// An earlier fleet run's rule rates, read from its database (`foliotrace fleet --baseline
/// OLD.sqlite`): per rule, the traces that could run it, those with findings, the findings.
/// Fleets differ from run to run, so runs are compared by rates, not finding by finding.
public struct FleetBaseline: Sendable {
    public struct Rates: Sendable, Equatable {
        public var runnable: Int
        public var withFindings: Int
        public var findings: Int

        /// The share of the traces that could run the rule that had findings, 0...1.
        public var share: Double { runnable == 0 ? 0 : Double(withFindings) / Double(runnable) }
        /// Findings per trace that could run the rule.
        public var perTrace: Double { runnable == 0 ? 0 : Double(findings) / Double(runnable) }
    }

    public let path: String
    public let rules: [String: Rates]

    /// Reads the `rules` table of a fleet (or export) database.
    /// - Throws: `FileError` when the file is not such a database.
    public init(path: String) throws(FileError) {
        self.path = path
        var handle: OpaquePointer?
        defer { sqlite3_close(handle) }
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            throw FileError(path: path, problem: "cannot open the database: \(message)")
        }
        let sql = """
            SELECT rule, COUNT(*), SUM(CASE WHEN findings > 0 THEN 1 ELSE 0 END), SUM(findings)
            FROM rules WHERE runnable = 1 GROUP BY rule
            """
        var statement: OpaquePointer?
        defer { sqlite3_finalize(statement) }
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(handle))
            throw FileError(path: path, problem: "not a foliotrace fleet database: \(message)")
        }
        var rules: [String: Rates] = [:]
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW, let name = sqlite3_column_text(statement, 0) else {
                throw FileError(
                    path: path,
                    problem: "cannot read the database: \(String(cString: sqlite3_errmsg(handle)))"
                )
            }
            rules[String(cString: name)] = Rates(
                runnable: Int(sqlite3_column_int64(statement, 1)),
                withFindings: Int(sqlite3_column_int64(statement, 2)),
                findings: Int(sqlite3_column_int64(statement, 3))
            )
        }
        self.rules = rules
    }

    /// One rule now against the baseline.
    public struct Comparison: Sendable {
        public var rule: String
        public var now: Rates
        public var before: Rates?
        /// Whether the share of traces with findings grew by more than the tolerance
        /// (percentage points).
        public var failed: Bool
    }

    /// Every rule of the registry, now (`summary`) against this baseline.
    public func compare(_ summary: FleetSummary, tolerancePoints: Double) -> [Comparison] {
        Rule.all.map { rule in
            let t = summary.rules[rule.id.rawValue] ?? FleetSummary.RuleTally()
            let now = Rates(runnable: t.runnable, withFindings: t.withFindings, findings: t.findings)
            let before = rules[rule.id.rawValue]
            let grown = (now.share - (before?.share ?? 0)) * 100
            return Comparison(
                rule: rule.id.rawValue,
                now: now,
                before: before,
                failed: now.runnable > 0 && grown > tolerancePoints
            )
        }
    }
}
