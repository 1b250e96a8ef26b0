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

/// What `foliotrace events` prints: the facts of one file, gathered from one pass over it,
/// and which analyses it can feed. Its JSON is documented by docs/events.schema.json.
public struct EventsReport: Encodable, Sendable {
    public var file: String
    /// "trace.dat", "perf.data" or "perf.data (pipe mode)".
    public var format: String
    public var version: Int
    public var compression: String
    public var kernel: String?
    public var uname: String?
    /// The tool that wrote the file: "trace-cmd VERSION", or perf's version and command line.
    public var recorder: String?
    public var buffer: String
    /// Per-CPU buffers in the file: the length of the per-CPU arrays.
    public var cpus: Int
    /// The CPU number of each per-CPU entry (a version-7 trace.dat may skip CPUs without data).
    public var cpu_ids: [Int]
    /// The traced machine's CPUs, where the file says (trace.dat's CPUCOUNT option).
    public var machine_cpus: Int?
    public var clock: String?
    /// Why the timestamps are not nanoseconds, when they are not (a raw `x86-tsc` clock).
    public var clock_note: String?
    public var total: UInt64
    public var typed: UInt64
    public var malformed: UInt64
    public var unknown_id: UInt64
    /// perf.data samples taken while a guest ran, which perf script shows only with
    /// `--guest`: not in `total`, `events` or the per-CPU counts. Absent for a trace.dat.
    public var guest_samples: UInt64?
    public var first_ts: UInt64?
    public var last_ts: UInt64?
    public var duration_ns: UInt64?
    public var lost_events: UInt64
    public var lost_events_per_cpu: [UInt64]
    public var pages_with_uncounted_loss: [Int]
    public var records_per_cpu: [UInt64]
    public var events: [String: UInt64]
    public var analyses: [Analysis]
    public var format_parse_failures: [String]
    /// Memory events whose format this trace gives in a form foliotrace cannot decode.
    public var unmodelled: [Unmodelled]
    /// What is damaged in the file, one sentence each.
    public var damage: [String]

    public struct Unmodelled: Encodable, Sendable {
        public var event: String
        public var reason: String
        public var analyses: [String]
    }

    public struct Analysis: Encodable, Sendable {
        public var name: String
        public var summary: String
        public var runnable: Bool
        public var missing: [String]
        /// For a rule that runs: the folio shapes the capture's probes cannot judge, and why.
        public var unjudged: [FolioGap]
    }

    /// - Throws: `TraceFileError` for unreadable input.
    public init(path: String) throws(TraceFileError) {
        let source = try TraceSource(path: path)
        let catalog = try source.catalog()
        let decoder = try EventDecoder(catalog: catalog, path: path)
        let inventory = try TraceInventory(source: source, decoder: decoder)
        self.file = path
        kernel = source.kernelRelease
        cpus = source.cpuCount
        cpu_ids = source.cpuIDs
        machine_cpus = source.machineCPUs
        clock_note = source.clockNote
        switch source {
        case .traceDat(let file):
            format = "trace.dat"
            version = file.version
            compression = file.compressionName
            uname = file.options.uname
            recorder = file.options.traceCmdVersion.map { "trace-cmd \($0)" }
            buffer = file.primaryBuffer.name
            clock = file.options.traceClock
        case .perfData(let file):
            format = file.isPipe ? "perf.data (pipe mode)" : "perf.data"
            version = 2
            compression = file.features.compression == 1 ? "zstd" : "none"
            uname = nil
            recorder = ["perf " + (file.features.perfVersion ?? "?"), file.features.commandLine]
                .compactMap { $0 }.joined(separator: ": ")
            buffer = ""
            clock = "perf"
        }
        total = inventory.total
        typed = inventory.typedRecords
        malformed = inventory.malformedRecords
        unknown_id = inventory.unknownRecords
        guest_samples = inventory.guestSamples
        first_ts = inventory.firstTimestamp
        last_ts = inventory.lastTimestamp
        // Timestamps come from the file: a damaged one may put the last before the first.
        if let a = first_ts, let b = last_ts, b >= a { duration_ns = b - a }
        lost_events = inventory.lostEvents
        lost_events_per_cpu = inventory.lostByCPU.map(\.counted)
        pages_with_uncounted_loss = inventory.lostByCPU.map(\.uncountedPages)
        records_per_cpu = inventory.countsByCPU
        var events: [String: UInt64] = [:]
        for t in catalog.types where inventory.countsByID[Int(t.id)] > 0 {
            events[t.fullName] = inventory.countsByID[Int(t.id)]
        }
        for (name, n) in inventory.otherEvents { events[name, default: 0] += n }  // perf.data's other events
        self.events = events
        let enabled = source.enabledEvents(catalog)
        let present = decoder.requirementNamesPresent(counts: inventory.countsByID, enabled: enabled)
        let probes = CaptureProbes(catalog, unmodelled: Set(decoder.unmodelled.map(\.event)))
        analyses = AnalysisRequirement.all.map { r in
            let c = r.check(present)
            let rule = Rule.all.first { $0.id.rawValue == r.id }
            return Analysis(
                name: r.id,
                summary: r.summary,
                runnable: c.runnable,
                missing: c.missing,
                unjudged: c.runnable ? rule?.unjudged(in: probes) ?? [] : []
            )
        }
        format_parse_failures = catalog.parseFailures.map { "\($0.system): \($0.message)" }
        // What the trace holds: an unmodelled event with records, or one the capture set up
        // (a probe it defined, an event it says it enabled) whose silence an analysis would
        // otherwise read as an answer; not every format an old kernel carries (a 2014 file
        // listed 12 events it never recorded).
        unmodelled = decoder.unmodelled.filter { u in
            guard let t = catalog.type(named: u.event) else { return true }
            return inventory.countsByID[Int(t.id)] > 0 || t.isKprobe || enabled?.contains(u.event) == true
        }
        .map { u in Unmodelled(event: u.event, reason: u.reason, analyses: u.analyses) }
        damage = source.damage + inventory.damage
    }

    private func lacking(_ a: Analysis) -> String {
        AnalysisRequirement.all.first { $0.id == a.name }?.lacking(a.missing) ?? a.missing.joined(separator: ", ")
    }

    /// Pretty-printed, keys sorted.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Only strings and integers: encoding cannot fail.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public var text: String {
        var s = ""
        let kind = format == "trace.dat" ? "trace.dat v\(version)" : format
        s += "file:      \(file) (\(kind), compression \(compression))\n"
        s += "kernel:    \(kernel ?? "not recorded")\n"
        if let recorder { s += "recorder:  \(recorder)\n" }
        if !buffer.isEmpty { s += "buffer:    instance \"\(buffer)\"\n" }
        let of = machine_cpus.map { $0 > cpus ? " with data, of \($0)" : "" } ?? ""
        s += "cpus:      \(cpus)\(of), clock \(clock ?? "unknown")\n"
        if let clock_note { s += "note:      \(clock_note)\n" }
        if let a = first_ts, let b = last_ts {
            let span = duration_ns.map { "\(seconds($0)) s" } ?? "out of order: the file is damaged"
            s += "time:      \(seconds(a)) .. \(seconds(b)) (\(span))\n"
        }
        s += "records:   \(total) (\(typed) decoded as memory events"
        if malformed > 0 { s += ", \(malformed) malformed" }
        if unknown_id > 0 { s += ", \(unknown_id) with an unknown event id" }
        s += ")\n"
        if let guest_samples, guest_samples > 0 {
            s +=
                "guest:     \(guest_samples) samples taken in a guest, not counted (perf script shows them with --guest)\n"
        }
        let lostLines = lost_events_per_cpu.indices.map { i -> String in
            let uncounted = i < pages_with_uncounted_loss.count ? pages_with_uncounted_loss[i] : 0
            return "cpu\(i < cpu_ids.count ? cpu_ids[i] : i) \(lost_events_per_cpu[i])"
                + (uncounted > 0 ? " (+\(uncounted) pages with uncounted losses)" : "")
        }
        s +=
            "lost:      \(lost_events) events" + (lostLines.isEmpty ? "" : ": " + lostLines.joined(separator: ", "))
            + "\n"
        if lost_events > 0 || pages_with_uncounted_loss.contains(where: { $0 > 0 }) {
            s += "           lifecycles that cross a loss may be incomplete\n"
        }
        s += "\nevents:\n"
        let width = String(events.values.max() ?? 0).count
        for (name, count) in events.sorted(by: { $0.key < $1.key }) {
            s += "  " + String(repeating: " ", count: width - String(count).count) + "\(count)  \(name)\n"
        }
        s += "\nanalyses:\n"
        let nameWidth = analyses.map(\.name.count).max() ?? 0
        for a in analyses {
            let pad = String(repeating: " ", count: nameWidth - a.name.count)
            s +=
                "  \(a.name)\(pad)  "
                + (a.runnable ? "yes" : "no: missing \(lacking(a))")
                + (a.runnable && !a.missing.isEmpty ? ", in part: missing \(lacking(a))" : "")
                + a.unjudged.map { "; cannot judge \($0.shapesText): \($0.reason)" }.joined()
                + "\n"
        }
        for f in format_parse_failures { s += "note: libtraceevent could not parse \(f)\n" }
        for u in unmodelled {
            s += "note: \(u.event) is counted, not modelled: \(u.reason)"
            s += u.analyses.isEmpty ? "\n" : " (affects \(u.analyses.joined(separator: ", ")))\n"
        }
        for d in damage { s += "damage: \(d)\n" }
        return s
    }

    private func seconds(_ ns: UInt64) -> String {
        let whole = ns / 1_000_000_000
        let frac = String(ns % 1_000_000_000 / 1000)
        return "\(whole)." + String(repeating: "0", count: 6 - frac.count) + frac
    }
}
