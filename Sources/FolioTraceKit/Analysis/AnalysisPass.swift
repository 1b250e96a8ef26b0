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
    /// The capture's modelled probes, which the rules' folio needs are evaluated against.
    let probes: CaptureProbes

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
        probes = CaptureProbes(catalog, unmodelled: Set(decoder.unmodelled.map(\.event)))
        engine.judge(MappedFreeJudgement(probes))
        engine.judgeMigrations(probes)
        counts = [UInt64](repeating: 0, count: catalog.idLimit)
    }

    /// Models one record and hands the transitions it made to the detectors.
    @inline(__always)
    mutating func handle(_ r: RawRecord) {
        let id = Int(r.eventID)
        if id < counts.count { counts[id] &+= 1 }
        model(r)
    }

    /// `handle` without the count, for a driver that counts into `takeCounts()`'s array.
    @inline(__always)
    mutating func model(_ r: RawRecord) { model(r, decoder.decode(r)) }

    /// `model` of a record this pass's decoder has decoded already (`DecodedRecords`).
    @inline(__always)
    mutating func model(_ r: RawRecord, _ event: MMEvent) {
        if engine.handle(r, event) { for t in engine.transitions { detectors.observe(t) } }
    }

    /// `model` for a driver that keeps the stat adjacency (`StatAdjacency`) itself.
    @inline(__always)
    mutating func model(_ r: RawRecord, _ event: MMEvent, after previousStat: StatMark) {
        if engine.handle(r, event, after: previousStat) { for t in engine.transitions { detectors.observe(t) } }
    }

    /// Hands the counts to a driver's loop, which gives them back with `putCounts`:
    /// `counts[id] &+= 1` on this stored property went through a uniqueness check and two
    /// calls on every record (60 M instructions of 1,390 M on the scale capture's first 3 s;
    /// docs/performance.md).
    mutating func takeCounts() -> [UInt64] {
        defer { counts = [] }
        return counts
    }

    mutating func putCounts(_ c: [UInt64]) { counts = c }

    /// For each rule: whether the records handled so far give it what it needs, what they
    /// lack, and the folio shapes the capture's probes cannot judge.
    var coverage: [(rule: Rule, runnable: Bool, missing: [String], unjudged: [FolioGap])] {
        let present = decoder.requirementNamesPresent(counts: counts, enabled: enabled)
        return Rule.all.map { rule in
            let check = rule.requirement.check(present)
            return (rule, check.runnable, check.missing, check.runnable ? rule.unjudged(in: probes) : [])
        }
    }
}

extension LifecycleEngine {
    /// An engine that judges frees while mapped as `charge-lifecycle-violation` declares,
    /// taking every probe of the catalog as modelled (`AnalysisPass` then narrows it to the
    /// probes the decoder models).
    public init(catalog: EventCatalog, savedCommands: [Int32: String], options: Options = Options()) {
        self.init(
            catalog: catalog,
            savedCommands: savedCommands,
            options: options,
            judging: MappedFreeJudgement(CaptureProbes(catalog))
        )
    }
}
