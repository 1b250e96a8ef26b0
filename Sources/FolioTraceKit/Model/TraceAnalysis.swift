/// One pass over a trace through the decoder and the lifecycle engine.
public struct TraceAnalysis: Sendable {
    public let path: String
    public let kernelRelease: String?
    public let cpus: Int
    public let catalog: EventCatalog
    public let report: LifecycleReport
    /// Per-CPU losses as the ring buffer reported them.
    public let lost: [LostEvents]
    /// The detectors' findings, in time order.
    public let findings: [Finding]
    /// For each rule: whether the trace has the events it needs, and which are missing.
    public let coverage: [(rule: Rule, runnable: Bool, missing: [String])]
    /// Counts that put each rule's findings in proportion.
    public let ruleContext: [String: [(String, UInt64)]]

    /// Reads and models the whole trace.
    /// - Throws: `TraceFileError` for unreadable input.
    public init(path: String, options: LifecycleEngine.Options = .init()) throws(TraceFileError) {
        let file = try TraceFile(path: path)
        let catalog = try EventCatalog(file: file)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        var engine = LifecycleEngine(catalog: catalog, savedCommands: file.savedCommands(), options: options)
        var detectors = DetectorSet()
        var counts = [UInt64](repeating: 0, count: catalog.idLimit)
        var records = try file.mergedRecords()
        while let r = try records.next() {
            let id = Int(r.eventID)
            if id < counts.count { counts[id] += 1 }
            engine.handle(r, decoder.decode(r))
            if engine.hasTransitions { for t in engine.transitions { detectors.observe(t) } }
        }
        let present = catalog.requirementNamesPresent(counts: counts)
        coverage = Rule.all.map { rule in
            let check = rule.requirement?.check(present) ?? (runnable: true, missing: [])
            return (rule, check.runnable, check.missing)
        }
        findings = detectors.findings
        ruleContext = detectors.context
        self.path = path
        kernelRelease = file.options.kernelRelease
        cpus = file.cpuBuffers.count
        self.catalog = catalog
        report = engine.finish()
        lost = records.lostEvents
    }
}
