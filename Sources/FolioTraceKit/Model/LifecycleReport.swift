/// Identifies one generation of one folio.
public struct FolioStepKey: Hashable, Sendable {
    public var pfn: UInt64
    public var generation: UInt32

    public init(pfn: UInt64, generation: UInt32) {
        self.pfn = pfn
        self.generation = generation
    }
}

/// Everything the engine worked out: the input of `analyze`, `folio` and the detectors.
public struct LifecycleReport: Sendable {
    public var summary: LifecycleSummary
    public var memcgs: [MemcgSummary]
    /// Generations kept: finished ones (all, or the watched) and live watched ones.
    public var generations: [FolioGeneration]
    public var steps: [FolioStepKey: [FolioStep]]
    /// Live generations at the end (with `keepLifecycles`).
    public var live: [FolioGeneration]
    public var tasks: TaskTable
}

/// Where a record was (event, CPU, time, task), kept for evidence after its payload is gone.
struct RecordMark {
    var eventID: UInt16
    var cpu: Int32
    var timestamp: UInt64
    var pid: Int32

    init(eventID: UInt16, cpu: Int32, timestamp: UInt64, pid: Int32) {
        self.eventID = eventID
        self.cpu = cpu
        self.timestamp = timestamp
        self.pid = pid
    }

    init(_ r: RawRecord) {
        eventID = r.eventID
        cpu = r.cpu
        timestamp = r.timestamp
        pid = r.pid
    }
}
