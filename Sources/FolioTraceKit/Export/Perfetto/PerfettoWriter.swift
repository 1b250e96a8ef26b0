#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A debug annotation's value (track_event/debug_annotation.proto).
enum PerfettoValue {
    case uint(UInt64)
    case int(Int64)
    case string(String)
    case bool(Bool)
}

/// Writes a Perfetto trace file: a `Trace` message, that is, `TracePacket`s one after the
/// other, each as field 1 (trace.proto). Three kinds of packet sequences
/// (`trusted_packet_sequence_id`), each in time order:
/// - `descriptorSequence`: the `TrackDescriptor`s, each written before the first event on its
///   track (they carry no timestamp);
/// - `eventSequence`: every `TrackEvent` (slices, instants, counters, flows), with event and
///   debug-annotation names interned as Perfetto's docs require: the first packet of the
///   sequence sets SEQ_INCREMENTAL_STATE_CLEARED, every packet that uses interned names sets
///   SEQ_NEEDS_INCREMENTAL_STATE, and a name is defined (`interned_data`) in the packet that
///   first uses it;
/// - one per CPU (`ftraceSequenceBase` + cpu): `FtraceEventBundle`s of that CPU's raw events.
///
/// Packets accumulate in memory and go to the file a megabyte at a time.
final class PerfettoWriter {
    static let descriptorSequence: UInt64 = 1
    static let eventSequence: UInt64 = 2
    static let ftraceSequenceBase: UInt64 = 1000
    /// Raw events per bundle before it is written out.
    static let bundleSize = 512

    private var w = ProtoWriter()
    private let fd: Int32
    private let path: String
    private(set) var failure: FileError?
    private var eventSequenceStarted = false
    private var descriptorSequenceStarted = false
    private var eventNames: [String: UInt64] = [:]
    private var annotationNames: [String: UInt64] = [:]
    private var newEventNames: [(UInt64, String)] = []
    private var newAnnotationNames: [(UInt64, String)] = []
    private(set) var lastTimestamp: UInt64 = 0
    /// Per CPU, the FtraceEvent entries (field 2 of a bundle) not yet written, and how many.
    private var bundles: [ProtoWriter] = []
    private var bundleCounts: [Int] = []
    private(set) var ftraceEvents = 0

    /// - Parameters:
    ///   - fd: an open file descriptor the writer writes to (and does not close).
    ///   - path: what error messages name.
    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    // MARK: descriptors

    /// A `TrackDescriptor` packet.
    func descriptor(
        uuid: UInt64,
        parent: UInt64? = nil,
        name: String,
        description: String? = nil,
        thread: (pid: Int32, name: String)? = nil,
        counterUnit: String? = nil,
        childOrdering: UInt64? = nil,
        rank: Int32? = nil
    ) {
        typealias D = PerfettoField.TrackDescriptor
        let packet = w.begin(PerfettoField.Trace.packet)
        w.uint(PerfettoField.TracePacket.trustedPacketSequenceID, Self.descriptorSequence)
        if !descriptorSequenceStarted {
            descriptorSequenceStarted = true
            w.uint(PerfettoField.TracePacket.sequenceFlags, PerfettoField.TracePacket.seqIncrementalStateCleared)
        }
        let d = w.begin(PerfettoField.TracePacket.trackDescriptor)
        w.uint(D.uuid, uuid)
        if let parent { w.uint(D.parentUUID, parent) }
        if let thread {
            let t = w.begin(D.thread)
            w.int(PerfettoField.ThreadDescriptor.pid, Int64(thread.pid))
            w.int(PerfettoField.ThreadDescriptor.tid, Int64(thread.pid))
            w.string(PerfettoField.ThreadDescriptor.threadName, thread.name)
            w.end(t)
        } else {
            w.string(D.name, name)
        }
        if let description { w.string(D.description, description) }
        if let counterUnit {
            let c = w.begin(D.counter)
            w.uint(PerfettoField.CounterDescriptor.unit, PerfettoField.CounterDescriptor.unitCount)
            w.string(PerfettoField.CounterDescriptor.unitName, counterUnit)
            w.end(c)
        }
        if let childOrdering { w.uint(D.childOrdering, childOrdering) }
        if let rank { w.int(D.siblingOrderRank, Int64(rank)) }
        w.end(d)
        w.end(packet)
        flushIfFull()
    }

    // MARK: track events

    /// A `TrackEvent` packet on the event sequence.
    /// - Parameters:
    ///   - type: a `PerfettoField.TrackEvent.type...` value.
    ///   - name: interned; nil for slice ends and counters.
    func event(
        _ timestamp: UInt64,
        type: UInt64,
        track: UInt64,
        name: String? = nil,
        counter: Int64? = nil,
        annotations: [(String, PerfettoValue)] = [],
        flows: [UInt64] = [],
        terminatingFlows: [UInt64] = []
    ) {
        typealias E = PerfettoField.TrackEvent
        // The merged stream is in time order; a damaged CPU stream can still step back,
        // and the sequence must not.
        let timestamp = max(timestamp, lastTimestamp)
        lastTimestamp = timestamp
        let packet = w.begin(PerfettoField.Trace.packet)
        w.uint(PerfettoField.TracePacket.timestamp, timestamp)
        w.uint(PerfettoField.TracePacket.trustedPacketSequenceID, Self.eventSequence)
        var flags = PerfettoField.TracePacket.seqNeedsIncrementalState
        if !eventSequenceStarted {
            eventSequenceStarted = true
            flags |= PerfettoField.TracePacket.seqIncrementalStateCleared
        }
        w.uint(PerfettoField.TracePacket.sequenceFlags, flags)
        let e = w.begin(PerfettoField.TracePacket.trackEvent)
        w.uint(E.type, type)
        w.uint(E.trackUUID, track)
        if let name { w.uint(E.nameIID, intern(name, in: &eventNames, new: &newEventNames)) }
        if let counter { w.int(E.counterValue, counter) }
        for (key, value) in annotations {
            typealias A = PerfettoField.DebugAnnotation
            let a = w.begin(E.debugAnnotations)
            w.uint(A.nameIID, intern(key, in: &annotationNames, new: &newAnnotationNames))
            switch value {
            case .uint(let v): w.uint(A.uintValue, v)
            case .int(let v): w.int(A.intValue, v)
            case .string(let v): w.string(A.stringValue, v)
            case .bool(let v): w.bool(A.boolValue, v)
            }
            w.end(a)
        }
        for id in flows { w.fixed64(E.flowIDs, id) }
        for id in terminatingFlows { w.fixed64(E.terminatingFlowIDs, id) }
        w.end(e)
        if !newEventNames.isEmpty || !newAnnotationNames.isEmpty {
            typealias I = PerfettoField.InternedData
            let interned = w.begin(PerfettoField.TracePacket.internedData)
            for (iid, s) in newEventNames {
                let n = w.begin(I.eventNames)
                w.uint(I.iid, iid)
                w.string(I.name, s)
                w.end(n)
            }
            for (iid, s) in newAnnotationNames {
                let n = w.begin(I.debugAnnotationNames)
                w.uint(I.iid, iid)
                w.string(I.name, s)
                w.end(n)
            }
            w.end(interned)
            newEventNames.removeAll(keepingCapacity: true)
            newAnnotationNames.removeAll(keepingCapacity: true)
        }
        w.end(packet)
        flushIfFull()
    }

    /// The iid of `s` on the event sequence (iids start at 1: 0 means "not set").
    private func intern(_ s: String, in table: inout [String: UInt64], new: inout [(UInt64, String)]) -> UInt64 {
        if let iid = table[s] { return iid }
        let iid = UInt64(table.count + 1)
        table[s] = iid
        new.append((iid, s))
        return iid
    }

    // MARK: ftrace

    /// Adds one raw event to its CPU's bundle: `body` writes the event's own message (its
    /// field in FtraceEvent's `oneof event` and the fields inside).
    func ftrace(cpu: Int32, timestamp: UInt64, pid: Int32, flags: UInt8, _ body: (inout ProtoWriter) -> Void) {
        let c = Int(cpu)
        guard c >= 0, c < TraceLimits.cpus else { return }
        if c >= bundles.count {
            for _ in bundles.count...c {
                bundles.append(ProtoWriter(capacity: 64 * 1024))
                bundleCounts.append(0)
            }
        }
        typealias F = PerfettoField.FtraceEvent
        let e = bundles[c].begin(PerfettoField.FtraceEventBundle.event)
        bundles[c].uint(F.timestamp, timestamp)
        bundles[c].uint(F.pid, UInt64(UInt32(bitPattern: pid)))
        bundles[c].uint(F.commonFlags, UInt64(flags))
        body(&bundles[c])
        bundles[c].end(e)
        bundleCounts[c] += 1
        ftraceEvents += 1
        if bundleCounts[c] >= Self.bundleSize { flushBundle(c) }
    }

    private func flushBundle(_ c: Int) {
        guard bundleCounts[c] > 0 else { return }
        let packet = w.begin(PerfettoField.Trace.packet)
        w.uint(PerfettoField.TracePacket.trustedPacketSequenceID, Self.ftraceSequenceBase + UInt64(c))
        let b = w.begin(PerfettoField.TracePacket.ftraceEvents)
        w.uint(PerfettoField.FtraceEventBundle.cpu, UInt64(c))
        w.bytes.append(contentsOf: bundles[c].bytes)
        w.end(b)
        w.end(packet)
        bundles[c].bytes.removeAll(keepingCapacity: true)
        bundleCounts[c] = 0
        flushIfFull()
    }

    // MARK: output

    private func flushIfFull() {
        if w.bytes.count >= 1 << 20 { flush() }
    }

    private func flush() {
        guard failure == nil else {
            w.bytes.removeAll(keepingCapacity: true)
            return
        }
        w.bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    failure = FileError(path: path, problem: "cannot write: \(String(cString: strerror(errno)))")
                    return
                }
                done += n
            }
        }
        w.bytes.removeAll(keepingCapacity: true)
    }

    /// Writes the remaining bundles and bytes.
    /// - Throws: `FileError` when a write failed.
    func finish() throws(FileError) {
        for c in bundles.indices { flushBundle(c) }
        flush()
        if let failure { throw failure }
    }
}
