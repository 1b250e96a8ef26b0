/// The names perf gives a perf.data's events, and what a reader found wrong in one.
///
/// perf names an event from the HEADER_EVENT_DESC feature when the file has it (file mode), and
/// otherwise from its attribute (`evsel__name` in perf's util/evsel.c): the generic hardware,
/// software and cache events by their perf names, raw events as `rNNN`, tracepoints as
/// `system:name` from their formats. Android's simpleperf lists `name,type,config` in the
/// `event_type_info` entry of its META_INFO feature (129) instead.
enum PerfEventNames {
    /// The name of each attribute, in order: the file's own names first, then derived ones.
    static func names(
        _ attrs: [PerfEventAttr],
        described: [String?],
        tracepointNames: [UInt64: String]
    ) -> [String] {
        attrs.indices.map { i in
            if i < described.count, let name = described[i], !name.isEmpty { return name }
            return derived(attrs[i], tracepointNames: tracepointNames)
        }
    }

    /// perf's name for an attribute whose file gives none.
    static func derived(_ a: PerfEventAttr, tracepointNames: [UInt64: String]) -> String {
        let config = a.config
        func pick(_ table: [String], _ otherwise: String) -> String {
            config < UInt64(table.count) ? table[Int(config)] : otherwise
        }
        switch a.type {
        case 0: return pick(hardware, "unknown-hardware") + modifiers(a)
        case 1: return pick(software, "unknown-software") + modifiers(a)
        case 2: return tracepointNames[config] ?? "unknown tracepoint (id \(config))"
        case 3:
            let cache = Int(config & 0xff)
            let op = Int(config >> 8 & 0xff)
            let result = Int(config >> 16 & 0xff)
            guard cache < caches.count, op < 3, result < 2 else { return "unknown-ext-hardware-cache-type" }
            let name =
                result == 0
                ? "\(caches[cache])-\(["loads", "stores", "prefetches"][op])"
                : "\(caches[cache])-\(["load", "store", "prefetch"][op])-misses"
            return name + modifiers(a)
        case 4: return "r" + String(config, radix: 16) + modifiers(a)
        case 5: return "mem:0x" + String(a.breakpointAddress, radix: 16)
        default: return "unknown attr type: \(a.type) (config 0x\(String(config, radix: 16)))"
        }
    }

    /// The modifiers perf appends (`evsel__add_modifiers`, tools/perf/util/evsel.c): `k`,
    /// `u`, `h` for the contexts counted when some are excluded, `p` per precise level, then
    /// `H` and `G` for host and guest when the guest setting is not the default (which is
    /// "excluded" once a context is excluded or precise_ip is set): "cycles:HG", "cycles:u".
    private static func modifiers(_ a: PerfEventAttr) -> String {
        let excludeUser = a.flags & (1 << 4) != 0
        let excludeKernel = a.flags & (1 << 5) != 0
        let excludeHV = a.flags & (1 << 6) != 0
        let precise = Int(a.flags >> 15 & 3)
        let excludeHost = a.flags & (1 << 19) != 0
        let excludeGuest = a.flags & (1 << 20) != 0
        var m = ""
        var excludeGuestDefault = false
        if excludeUser || excludeKernel || excludeHV {
            if !excludeKernel { m += "k" }
            if !excludeUser { m += "u" }
            if !excludeHV { m += "h" }
            excludeGuestDefault = true
        }
        if precise > 0 {
            m += String(repeating: "p", count: precise)
            excludeGuestDefault = true
        }
        if excludeHost || excludeGuest == excludeGuestDefault {
            if !excludeHost { m += "H" }
            if !excludeGuest { m += "G" }
        }
        return m.isEmpty ? "" : ":" + m
    }

    static let hardware = [
        "cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses",
        "bus-cycles", "stalled-cycles-frontend", "stalled-cycles-backend", "ref-cycles",
    ]
    static let software = [
        "cpu-clock", "task-clock", "page-faults", "context-switches", "cpu-migrations", "minor-faults",
        "major-faults", "alignment-faults", "emulation-faults", "dummy", "bpf-output", "cgroup-switches",
    ]
    static let caches = ["L1-dcache", "L1-icache", "LLC", "dTLB", "iTLB", "branch", "node"]

    /// HEADER_EVENT_DESC: `u32 nr, u32 attr_size`, then per event its attribute, `u32 nr_ids`,
    /// its name (a perf string) and its ids. Returns a name per attribute of `attrs` (matched
    /// by id, else by position with the same type and config); nil where none matched.
    static func eventDesc(_ body: UnsafeRawBufferPointer, attrs: [PerfEventAttr]) throws(TraceProblem) -> [String?] {
        var names = [String?](repeating: nil, count: attrs.count)
        var byID: [UInt64: Int] = [:]
        for (i, a) in attrs.enumerated() { for id in a.ids { byID[id] = i } }
        var c = ByteCursor(body)
        let count = try c.u32("event_desc count")
        let attrSize = Int(try c.u32("event_desc attr size"))
        guard attrSize >= 16 else { throw TraceProblem(.corrupt("event_desc attr size \(attrSize)")) }
        // Each event takes at least its attribute and two u32s: a count beyond that is damage.
        guard UInt64(count) <= UInt64(body.count / (attrSize + 8)) else {
            throw TraceProblem(.corrupt("event_desc lists \(count) events in \(body.count) bytes"))
        }
        for i in 0..<Int(count) {
            let attr = try c.slice(attrSize, "event_desc attr \(i)")
            let type = attr.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
            let config = attr.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            let nrIDs = Int(try c.u32("event_desc ids count \(i)"))
            let name = try c.perfString("event_desc name \(i)")
            let ids = try c.slice(
                nrIDs.multipliedReportingOverflow(by: 8).overflow ? -1 : nrIDs * 8,
                "event_desc ids \(i)"
            )
            var index = ids.count >= 8 ? byID[ids.loadUnaligned(fromByteOffset: 0, as: UInt64.self)] : nil
            if index == nil, i < attrs.count, attrs[i].type == type, attrs[i].config == config { index = i }
            if let index, names[index] == nil { names[index] = name }
        }
        return names
    }

    /// simpleperf's META_INFO feature: NUL-terminated key and value strings in turn. Returns a
    /// name per attribute from its `event_type_info` ("name,type,config" lines).
    static func simpleperfMetaInfo(_ body: UnsafeRawBufferPointer, attrs: [PerfEventAttr]) -> [String?] {
        var names = [String?](repeating: nil, count: attrs.count)
        let strings = body.split(separator: 0, omittingEmptySubsequences: false)
        var i = 0
        while i + 1 < strings.count {
            defer { i += 2 }
            guard String(decoding: strings[i], as: UTF8.self) == "event_type_info" else { continue }
            for line in String(decoding: strings[i + 1], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: ",")
                guard parts.count >= 3, let type = UInt32(parts[parts.count - 2]),
                    let config = UInt64(parts[parts.count - 1])
                else { continue }
                let name = parts.dropLast(2).joined(separator: ",")
                if let a = attrs.indices.first(where: {
                    names[$0] == nil && attrs[$0].type == type && attrs[$0].config == config
                }) {
                    names[a] = name
                }
            }
        }
        return names
    }
}

/// What was wrong in a perf.data whose records could still be read: kept beside the counts so
/// that reports can say the file was damaged instead of smoothing it over.
///
/// `PerfFile.damage` has what opening found (metadata); `PerfRecordStream.damage` adds what
/// reading the records found, complete once the stream has ended.
public struct PerfDamage: Sendable, Equatable, CustomStringConvertible {
    /// The file offset where the readable records end when the file stops inside a record (a
    /// cut pipe-mode file: the records before it are read, as `perf script` reads them).
    public var cutAt: Int?
    /// The bytes from `cutAt` to the end of the data, which make no whole record: the part of
    /// a record cut off, or bytes written after the last record (a pipe's stream with other
    /// output appended to it), which the file cannot tell apart.
    public var bytesAfterCut = 0
    /// Samples left out because they contradict their own layout: shorter than their fields,
    /// or a CPU outside 0..<`PerfFile.cpuLimit`.
    public var malformedSamples: UInt64 = 0
    /// Samples whose id is no event's of the file (perf skips them too).
    public var unknownIDSamples: UInt64 = 0
    /// PERF_RECORD_LOST records naming a CPU outside 0..<`PerfFile.cpuLimit`, left out.
    public var malformedLossRecords: UInt64 = 0
    /// Metadata that is inconsistent and was left out, one line each.
    public var notes: [String] = []

    public init() {}

    /// Whether nothing was found wrong.
    public var isEmpty: Bool {
        cutAt == nil && malformedSamples == 0 && unknownIDSamples == 0 && malformedLossRecords == 0 && notes.isEmpty
    }

    /// One line: "cut at offset N (inside a record); 3 malformed samples left out; ...", or
    /// "none".
    public var description: String {
        var parts: [String] = []
        if let cutAt {
            parts.append(
                "the last \(bytesAfterCut) bytes, from offset \(cutAt), are not a whole record "
                    + "(the file was cut, or has bytes after its last record)"
            )
        }
        if malformedSamples > 0 { parts.append("\(malformedSamples) malformed samples left out") }
        if unknownIDSamples > 0 { parts.append("\(unknownIDSamples) samples of no recorded event left out") }
        if malformedLossRecords > 0 { parts.append("\(malformedLossRecords) loss records of no valid CPU left out") }
        parts += notes
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }
}

extension String {
    /// The text fit for a one-line message: control characters and non-ASCII bytes escaped
    /// (`\xNN`), at most `limit` characters (cut with "..."), and never empty. Applying it
    /// again changes nothing but the length.
    func boundedForMessage(_ limit: Int = 200) -> String { MessageText.oneLine(self, limit: limit) }
}

extension TraceFileError.Problem {
    /// The problem with each text from the file made one bounded, escaped line.
    func boundedForMessage() -> Self {
        switch self {
        case .truncated(let s): return .truncated(s.boundedForMessage())
        case .corrupt(let s): return .corrupt(s.boundedForMessage())
        case .decompression(let s): return .decompression(s.boundedForMessage())
        case .unsupportedPerf(let s): return .unsupportedPerf(s.boundedForMessage())
        case .eventFormat(let event, let detail):
            return .eventFormat(event: event.boundedForMessage(80), detail: detail.boundedForMessage())
        case .missingField(let event, let field):
            return .missingField(event: event.boundedForMessage(80), field: field.boundedForMessage(80))
        default: return self
        }
    }
}
