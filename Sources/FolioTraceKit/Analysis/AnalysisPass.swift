/// The stages wired for one input: the decoder, the lifecycle engine fed every record, and
/// the detectors fed the engine's transitions. `TraceAnalysis` drives it over a file and
/// `LiveSession` over a tracefs instance, so both analyze records the same way.
///
/// A struct reached in place (`inout`, a stored property of the driver), so the engine and
/// the detectors are never copied in the record loop.
struct AnalysisPass {
    var engine: LifecycleEngine
    let decoder: EventDecoder
    var detectors = DetectorSet()
    /// Records handled, by event id.
    private(set) var counts: [UInt64]
    /// The events the capture says it enabled that the decoder models (nil when the input
    /// does not say): on, so silent when they have no record.
    let enabled: Set<String>?

    /// - Parameters:
    ///   - enabled: "system:event" names the capture enabled, when it says.
    ///   - cgroupPaths: memcg id -> path, from the input or the machine.
    init(
        decoder: EventDecoder,
        savedCommands: [Int32: String],
        cgroupPaths: [UInt64: String],
        enabled: Set<String>?,
        options: LifecycleEngine.Options = .init()
    ) {
        let catalog = decoder.catalog
        self.decoder = decoder
        engine = LifecycleEngine(catalog: catalog, savedCommands: savedCommands, options: options)
        engine.nameCgroups(cgroupPaths)
        self.enabled = decoder.modelledEnabled(enabled)
        if let modelled = self.enabled { engine.knowEnabled(modelled) }
        engine.knowUnmodelled(Set(decoder.unmodelled.map(\.event)), catalog: catalog)
        counts = [UInt64](repeating: 0, count: catalog.idLimit)
    }

    /// Models one record and hands the transitions it made to the detectors.
    @inline(__always)
    mutating func handle(_ r: RawRecord) {
        let id = Int(r.eventID)
        if id < counts.count { counts[id] &+= 1 }
        if engine.handle(r, decoder.decode(r)) { for t in engine.transitions { detectors.observe(t) } }
    }

    /// For each rule: whether the records handled so far give it what it needs, and what
    /// they lack.
    var coverage: [(rule: Rule, runnable: Bool, missing: [String])] {
        let present = decoder.requirementNamesPresent(counts: counts, enabled: enabled)
        return Rule.all.map { rule in
            let check = rule.requirement.check(present)
            return (rule, check.runnable, check.missing)
        }
    }
}
