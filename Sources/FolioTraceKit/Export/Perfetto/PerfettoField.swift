/// The field numbers and enum values of the Perfetto trace protos that `PerfettoWriter`
/// writes, named once.
///
/// Every number is read from Perfetto's own .proto files (github.com/google/perfetto,
/// protos/perfetto/trace/, checked at commit ec5d16b14b743ba6063d720956d6d6af6610fd72); each
/// enum names its file. Only the messages and fields foliotrace uses are defined.
enum PerfettoField {
    /// trace.proto: `message Trace`.
    enum Trace {
        static let packet = 1
    }

    /// trace_packet.proto: `message TracePacket`.
    enum TracePacket {
        static let ftraceEvents = 1
        static let timestamp = 8
        static let trustedPacketSequenceID = 10
        static let trackEvent = 11
        static let internedData = 12
        static let sequenceFlags = 13
        static let trackDescriptor = 60
        /// `enum SequenceFlags`.
        static let seqIncrementalStateCleared: UInt64 = 1
        static let seqNeedsIncrementalState: UInt64 = 2
    }

    /// track_event/track_descriptor.proto: `message TrackDescriptor`.
    enum TrackDescriptor {
        static let uuid = 1
        static let name = 2
        static let thread = 4
        static let parentUUID = 5
        static let counter = 8
        static let childOrdering = 11
        static let siblingOrderRank = 12
        static let description = 14
        /// `enum ChildTracksOrdering`.
        static let orderingLexicographic: UInt64 = 1
        static let orderingChronological: UInt64 = 2
        static let orderingExplicit: UInt64 = 3
    }

    /// track_event/thread_descriptor.proto: `message ThreadDescriptor`.
    enum ThreadDescriptor {
        static let pid = 1
        static let tid = 2
        static let threadName = 5
    }

    /// track_event/counter_descriptor.proto: `message CounterDescriptor`.
    enum CounterDescriptor {
        static let unit = 3
        static let unitName = 6
        /// `enum Unit`.
        static let unitCount: UInt64 = 2
    }

    /// track_event/track_event.proto: `message TrackEvent`.
    enum TrackEvent {
        static let debugAnnotations = 4
        static let type = 9
        static let nameIID = 10
        static let trackUUID = 11
        static let name = 23
        static let counterValue = 30
        /// fixed64 (the `_old` varint forms, 36 and 42, are deprecated).
        static let flowIDs = 47
        static let terminatingFlowIDs = 48
        /// `enum Type`.
        static let typeSliceBegin: UInt64 = 1
        static let typeSliceEnd: UInt64 = 2
        static let typeInstant: UInt64 = 3
        static let typeCounter: UInt64 = 4
    }

    /// track_event/debug_annotation.proto: `message DebugAnnotation`.
    enum DebugAnnotation {
        static let nameIID = 1
        static let boolValue = 2
        static let uintValue = 3
        static let intValue = 4
        static let stringValue = 6
    }

    /// interned_data/interned_data.proto: `message InternedData`; its entries are
    /// track_event.proto's `EventName` and debug_annotation.proto's `DebugAnnotationName`,
    /// both `{iid = 1, name = 2}`.
    enum InternedData {
        static let eventNames = 2
        static let debugAnnotationNames = 3
        static let iid = 1
        static let name = 2
    }

    /// ftrace/ftrace_event_bundle.proto: `message FtraceEventBundle`.
    enum FtraceEventBundle {
        static let cpu = 1
        static let event = 2
    }

    /// ftrace/ftrace_event.proto: `message FtraceEvent` (the common fields and the numbers
    /// of its `oneof event` members foliotrace writes).
    enum FtraceEvent {
        static let timestamp = 1
        static let pid = 2
        static let commonFlags = 5
        static let mmVmscanDirectReclaimBegin = 46
        static let mmVmscanDirectReclaimEnd = 47
        static let mmVmscanKswapdWake = 48
        static let mmVmscanKswapdSleep = 49
        static let mmFilemapAddToPageCache = 97
        static let mmFilemapDeleteFromPageCache = 98
        static let mmPageAlloc = 307
        static let mmPageFree = 310
        static let mmPageFreeBatched = 311
        static let mmPagePcpuDrain = 312
        static let mmVmscanMemcgReclaimBegin = 607
        static let mmVmscanMemcgReclaimEnd = 608
    }

    /// ftrace/kmem.proto: `MmPageAllocFtraceEvent`.
    enum MmPageAlloc {
        static let gfpFlags = 1
        static let migratetype = 2
        static let order = 3
        static let pfn = 5
    }

    /// ftrace/kmem.proto: `MmPageFreeFtraceEvent` and `MmPageFreeBatchedFtraceEvent` (pfn 3
    /// in both).
    enum MmPageFree {
        static let order = 1
        static let pfn = 3
    }

    /// ftrace/kmem.proto: `MmPagePcpuDrainFtraceEvent`.
    enum MmPagePcpuDrain {
        static let migratetype = 1
        static let order = 2
        static let pfn = 4
    }

    /// ftrace/filemap.proto: `MmFilemapAddToPageCacheFtraceEvent` and
    /// `MmFilemapDeleteFromPageCacheFtraceEvent` (the same numbers).
    enum MmFilemap {
        static let pfn = 1
        static let inode = 2
        static let index = 3
        static let dev = 4
    }

    /// ftrace/vmscan.proto: `MmVmscanDirectReclaimBeginFtraceEvent` and
    /// `MmVmscanMemcgReclaimBeginFtraceEvent` (order 1, gfp_flags 3; uint32 in the first,
    /// uint64 in the second); their `...EndFtraceEvent`s have nr_reclaimed = 1;
    /// `MmVmscanKswapdWakeFtraceEvent` nid 1, order 2, zid 3; `...KswapdSleep` nid 1.
    enum MmVmscan {
        static let beginOrder = 1
        static let beginGfpFlags = 3
        static let endNrReclaimed = 1
        static let wakeNid = 1
        static let wakeOrder = 2
        static let wakeZid = 3
        static let sleepNid = 1
    }
}
