/// Pages of one memcg at one moment, as far as the trace shows them.
public struct PageCensus: Sendable, Equatable {
    /// Pages of live folios the trace saw inserted on an LRU list (folios already on a list
    /// when the trace began are not counted until an event shows them).
    public var lruPages: UInt64 = 0
    public var pageCachePages: UInt64 = 0
    /// `lruPages` by list, indexed by `LRUList` raw value (0-4).
    public var lruListPages = LRUListPages()
}

/// Pages on each LRU list (`PageCensus.lruListPages`).
public struct LRUListPages: Sendable, Equatable {
    public var inactiveAnon: UInt64 = 0
    public var activeAnon: UInt64 = 0
    public var inactiveFile: UInt64 = 0
    public var activeFile: UInt64 = 0
    public var unevictable: UInt64 = 0

    public init() {}

    /// The pages of the list with raw value `lru` (0 for a value that names no list).
    public subscript(_ lru: UInt8) -> UInt64 {
        get {
            switch lru {
            case 0: return inactiveAnon
            case 1: return activeAnon
            case 2: return inactiveFile
            case 3: return activeFile
            case 4: return unevictable
            default: return 0
            }
        }
        set {
            switch lru {
            case 0: inactiveAnon = newValue
            case 1: activeAnon = newValue
            case 2: inactiveFile = newValue
            case 3: activeFile = newValue
            case 4: unevictable = newValue
            default: break
            }
        }
    }
}

/// The trace sampled over time, for plots: per-memcg page counts and cumulative migrations.
///
/// Samples are taken every `interval` of trace time. The trace's length is not known until
/// its end, so the interval starts at 1 ms and doubles (dropping every other sample) whenever
/// more than `capacity` samples are held: the result spans the whole trace evenly with at
/// most `capacity` samples, and the census work stays logarithmic in the trace's length.
public struct Timeline: Sendable {
    public struct Sample: Sendable {
        public var timestamp: UInt64
        /// Records handled so far.
        public var records: UInt64
        public var memcgs: [UInt64: PageCensus]
        /// Folios migrated successfully so far, by reason (cumulative).
        public var migrated: [String: UInt64]
    }

    /// When samples are due: a function of the sampled records' timestamps alone, so that the
    /// reader that folds memcg stat records (`ReadAheadStream`) can tell, with a copy of its
    /// own, which records the engine's timeline will sample.
    public struct Schedule: Sendable {
        public private(set) var interval: UInt64 = 1_000_000
        /// Trace time at which the next sample is due (0: the first record takes one).
        public private(set) var due: UInt64 = 0
        /// Samples held.
        private(set) var held = 0
        let capacity: Int

        init(capacity: Int) { self.capacity = capacity }

        /// Takes the sample of a record at `timestamp` (at or past `due`) and says whether the
        /// samples held must be halved (every other one dropped).
        mutating func took(_ timestamp: UInt64) -> Bool {
            held += 1
            let halve = held > capacity
            if halve {
                held = (held + 1) / 2
                interval = interval > UInt64.max / 2 ? interval : interval * 2
            }
            // Saturating: a corrupt trace's timestamp near the end of the range ends sampling
            // instead of wrapping around to sample on every record.
            let (next, overflow) = timestamp.addingReportingOverflow(interval)
            due = overflow ? .max : next
            return halve
        }
    }

    public private(set) var samples: [Sample] = []
    public private(set) var schedule: Schedule
    public var interval: UInt64 { schedule.interval }
    /// Trace time at which the next sample is due (0: the first record takes one).
    public var due: UInt64 { schedule.due }
    public var capacity: Int { schedule.capacity }

    public init(capacity: Int = 256) { schedule = Schedule(capacity: max(capacity, 4)) }

    /// Takes a sample when `timestamp` has reached the next one due. Cheap when it has not:
    /// the caller may check `timestamp >= due` itself to skip the call.
    public mutating func observe(_ timestamp: UInt64, _ engine: LifecycleEngine) {
        guard timestamp >= due else { return }
        take(timestamp, engine)
        if schedule.took(timestamp) {
            samples = samples.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        }
    }

    /// Drops every memcg but `ids` from the samples (a report narrowed to one memcg).
    public mutating func keepMemcgs(_ ids: Set<UInt64>) {
        for i in samples.indices { samples[i].memcgs = samples[i].memcgs.filter { ids.contains($0.key) } }
    }

    /// The last sample, at the end of the trace.
    public mutating func finish(_ timestamp: UInt64, _ engine: LifecycleEngine) {
        if samples.last?.timestamp != timestamp || samples.last?.records != engine.summary.records {
            take(timestamp, engine)
        }
    }

    private mutating func take(_ timestamp: UInt64, _ engine: LifecycleEngine) {
        samples.append(
            Sample(
                timestamp: timestamp,
                records: engine.summary.records,
                memcgs: engine.census(),
                migrated: engine.summary.migration.byReason.mapValues(\.succeeded)
            )
        )
    }
}
