import CTraceEvent

/// One field of an event format, as libtraceevent parsed it.
public struct EventField: Sendable, Equatable {
    public var name: String
    /// The C type as the format file spells it ("unsigned long", "__data_loc char[]").
    public var type: String
    public var offset: Int
    public var size: Int
    public var isSigned: Bool
    /// A `__data_loc` / `__rel_loc` field: a 32-bit (length << 16 | offset) word.
    public var isDynamic: Bool
    public var isRelative: Bool
}

/// An event type of a trace: its id, name and fields.
public struct EventType: Sendable {
    public var id: UInt16
    public var system: String
    public var name: String
    /// The fields, for the event types foliotrace models (others are only named and counted,
    /// and their fields are left unparsed: empty).
    public var fields: [EventField]

    /// "system:name", the way trace-cmd and perf name events.
    public var fullName: String { "\(system):\(name)" }

    public func field(_ name: String) -> EventField? { fields.first { $0.name == name } }

    /// Kprobe events (any group) carry the probed address as their first field.
    public var isKprobe: Bool { fields.first?.name == "__probe_ip" }
}

/// Every event type a trace's format files define.
///
/// libtraceevent (`tep_parse_event`) is the authority on the format files of the events
/// foliotrace decodes; its handle is freed as soon as the fields are copied out, because the
/// per-record path never calls back into it: fields are read at the offsets resolved here.
/// A kernel defines some two thousand events and a trace carries all their formats, so the
/// formats of systems foliotrace does not model are not parsed: their name and id are read
/// from the format text, which is all that counting them needs.
public struct EventCatalog: Sendable {
    /// Event types in id order.
    public let types: [EventType]
    /// Whether the trace's numbers are big-endian.
    public let bigEndian: Bool
    /// `uname -m` of the traced machine ("x86_64"), nil when the file does not say.
    public let machine: String?
    /// `uname -r` of the traced kernel, nil when the file does not say.
    public let kernelRelease: String?
    /// The traced kernel's page-table layout (from `machine`, the page size and the
    /// release), or why foliotrace does not know it: migration entries are decoded with it
    /// or not at all.
    public let pteLayout: Result<PTELayout, PTELayout.Unknown>
    /// Format files libtraceevent could not parse, with its message.
    public let parseFailures: [(system: String, message: String)]
    private let indexByID: [Int32]

    /// Parses the format files of `file`.
    /// - Throws: `TraceFileError` when no event format could be parsed or the common fields
    ///   are not where every kernel since 2.6.30 puts them.
    public init(file: TraceFile) throws(TraceFileError) {
        try self.init(
            tracing: file.tracing,
            path: file.path,
            machine: file.options.machine,
            kernelRelease: file.options.kernelRelease
        )
    }

    /// Parses the format files of a capture's tracing data (a trace.dat's or a perf.data's).
    /// - Throws: `TraceFileError` as `init(file:)`.
    /// - Parameters:
    ///   - machine: `uname -m` of the traced machine, when the file says: it decides which
    ///     kernel layouts (PTEs, migration entries) apply to the fields.
    ///   - kernelRelease: `uname -r`, when the file says (arm64's swap layout depends on it).
    public init(
        tracing file: TracingData,
        path: String,
        machine: String? = nil,
        kernelRelease: String? = nil
    ) throws(TraceFileError) {
        guard let tep = tep_alloc() else {
            throw TraceFileError(path: path, problem: .corrupt("libtraceevent could not allocate a handle"))
        }
        defer { tep_free(tep) }
        tep_set_file_bigendian(tep, file.bigEndian ? TEP_BIG_ENDIAN : TEP_LITTLE_ENDIAN)
        tep_set_long_size(tep, Int32(file.longSize))
        tep_set_page_size(tep, Int32(file.pageSize))
        var failures: [(String, String)] = []
        func parse(_ format: UnsafeRawBufferPointer, _ system: String) -> Bool {
            // Only the fields are used: the print format, whose argument parser is the part of
            // libtraceevent that a damaged format can crash (a REC->field the format lacks),
            // is handed over empty.
            if let damage = EventCatalog.malformedLine(format) {
                // libtraceevent reads a damaged field line past its end (a NULL strcmp):
                // such a format is only named and counted, never handed to it.
                let name = EventCatalog.header(of: format, system: system)?.name ?? "?"
                failures.append((system, "\(name): malformed format line '\(damage)'"))
                return false
            }
            let text = EventCatalog.withoutPrintFormat(format)
            let rc = text.withUnsafeBufferPointer { t in
                tep_parse_event(tep, t.baseAddress, UInt(t.count), system)
            }
            guard rc != TEP_ERRNO__SUCCESS else { return true }
            var message = [CChar](repeating: 0, count: 256)
            _ = tep_strerror(tep, rc, &message, message.count)
            let name = EventCatalog.header(of: format, system: system)?.name ?? "?"
            failures.append(
                (
                    system,
                    "\(name): "
                        + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                )
            )
            return false
        }
        var types: [EventType] = []
        var unparsed: [EventType] = []
        for f in file.ftraceFormats { if let t = EventCatalog.header(of: f, system: "ftrace") { types.append(t) } }
        for (system, f) in file.eventFormats {
            if EventCatalog.modelledSystems.contains(system) || EventCatalog.isKprobe(f) {
                // Still count the records of a format libtraceevent rejected.
                if !parse(f, system), let t = EventCatalog.header(of: f, system: system) { unparsed.append(t) }
            } else if let t = EventCatalog.header(of: f, system: system) {
                types.append(t)
            }
        }

        let count = tep_get_events_count(tep)
        for i in 0..<count {
            guard let event = tep_get_event(tep, i) else { continue }
            let e = event.pointee
            guard e.id >= 0, e.id <= Int32(UInt16.max) else { continue }
            if let common = EventCatalog.fields(e.format.common_fields) as [EventField]?,
                let type = common.first(where: { $0.name == "common_type" }),
                type.offset != 0 || type.size != 2
            {
                // Not a layout any kernel since 2.6.30 writes: this event is left out, the
                // others are read.
                failures.append(
                    (
                        String(cString: e.system),
                        String(cString: e.name) + ": common_type at offset \(type.offset) size \(type.size)"
                    )
                )
                continue
            }
            types.append(
                EventType(
                    id: UInt16(e.id),
                    system: String(cString: e.system),
                    name: String(cString: e.name),
                    fields: EventCatalog.fields(e.format.fields)
                )
            )
        }
        for t in unparsed where !types.contains(where: { $0.id == t.id }) { types.append(t) }
        types.sort { $0.id < $1.id }
        var index = [Int32](repeating: -1, count: Int(types.last?.id ?? 0) + 1)
        for (i, t) in types.enumerated() { index[Int(t.id)] = Int32(i) }
        self.types = types
        self.indexByID = index
        self.bigEndian = file.bigEndian
        self.machine = machine
        self.kernelRelease = kernelRelease
        self.pteLayout = PTELayout.of(machine: machine, pageSize: file.pageSize, release: kernelRelease)
        self.parseFailures = failures
    }

    /// The systems whose events `EventDecoder` decodes (kprobe groups are found by their
    /// `__probe_ip` field instead, since any group name may hold them).
    static let modelledSystems: Set<String> = [
        "kmem", "pagemap", "filemap", "vmscan", "migrate", "thp", "memcg", "cgroup", "exceptions",
    ]

    /// The first line of a format (before its print format) that is not one of the lines a
    /// kernel writes: `name:`, `ID:`, `format:`, blank, and `field:` (`field special:` in
    /// 2.6 kernels) with a declaration whose brackets close, then `offset:N;` and `size:N;`.
    ///
    /// Read as bytes, not Characters: every format of a trace passes here before
    /// libtraceevent sees it, and grapheme-by-grapheme string search made this check cost
    /// more than the rest of opening a file.
    static func malformedLine(_ format: UnsafeRawBufferPointer) -> String? {
        var start = 0
        while start <= format.count {
            let end = format[start...].firstIndex(of: UInt8(ascii: "\n")) ?? format.count
            var first = start
            while first < end, format[first] == UInt8(ascii: " ") || format[first] == UInt8(ascii: "\t") {
                first += 1
            }
            let line = UnsafeRawBufferPointer(rebasing: format[first..<end])
            start = end + 1
            if line.isEmpty || line.starts(with: "name:".utf8) || line.starts(with: "ID:".utf8)
                || line.starts(with: "format:".utf8)
            {
                continue
            }
            if line.starts(with: "print fmt:".utf8) { return nil }
            let shown = String(decoding: line.prefix(60), as: UTF8.self)
            guard line.starts(with: "field:".utf8) || line.starts(with: "field special:".utf8),
                let colon = line.firstIndex(of: UInt8(ascii: ":")), let semi = line.firstIndex(of: UInt8(ascii: ";")),
                colon < semi
            else { return shown }
            let declaration = line[(colon + 1)..<semi]
            var depth = 0
            for c in declaration {
                if c == UInt8(ascii: "[") { depth += 1 }
                if c == UInt8(ascii: "]") { depth -= 1 }
                if depth < 0 || depth > 1 { return shown }
            }
            let rest = UnsafeRawBufferPointer(rebasing: line[semi...])
            guard depth == 0, declaration.contains(where: { $0 != UInt8(ascii: " ") }),
                Self.number(after: "offset:", in: rest) != nil, Self.number(after: "size:", in: rest) != nil
            else { return shown }
        }
        return nil
    }

    /// The decimal number after the first `key` in `line`, which must end with ';'.
    private static func number(after key: StaticString, in line: UnsafeRawBufferPointer) -> Int? {
        let k = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        guard k.count <= line.count else { return nil }
        var i = 0
        while i + k.count <= line.count, !UnsafeRawBufferPointer(rebasing: line[i..<(i + k.count)]).elementsEqual(k) {
            i += 1
        }
        guard i + k.count <= line.count else { return nil }
        var j = i + k.count
        var value = 0
        while j < line.count, line[j] >= UInt8(ascii: "0"), line[j] <= UInt8(ascii: "9") {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(line[j] - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = a
            j += 1
        }
        guard j > i + k.count, j < line.count, line[j] == UInt8(ascii: ";") else { return nil }
        return value
    }

    /// The format's text up to its `print fmt:` line, which becomes `print fmt: ""`.
    static func withoutPrintFormat(_ format: UnsafeRawBufferPointer) -> [CChar] {
        let marker = Array("\nprint fmt:".utf8)
        var end = format.count
        if format.count >= marker.count {
            for i in 0...(format.count - marker.count) where format[i] == marker[0] {
                if UnsafeRawBufferPointer(rebasing: format[i..<(i + marker.count)]).elementsEqual(marker) {
                    end = i
                    break
                }
            }
        }
        var out = format[..<end].map { CChar(bitPattern: $0) }
        out += Array("\nprint fmt: \"\"\n".utf8).map { CChar(bitPattern: $0) }
        return out
    }

    /// The name and id of an unparsed format, from its first lines ("name: X\nID: N\n").
    private static func header(of format: UnsafeRawBufferPointer, system: String) -> EventType? {
        guard let (id, name) = TracingData.formatHeader(format), id <= UInt64(UInt16.max) else { return nil }
        return EventType(id: UInt16(id), system: system, name: name, fields: [])
    }

    /// Kprobe formats have a `__probe_ip` field, in whichever group they were defined: it is
    /// the first field after the common ones, so only the first few lines are looked at.
    private static func isKprobe(_ format: UnsafeRawBufferPointer) -> Bool {
        var start = 0
        while start < format.count {
            var end = start
            while end < format.count, format[end] != UInt8(ascii: "\n") { end += 1 }
            let line = UnsafeRawBufferPointer(rebasing: format[start..<end])
            start = end + 1
            guard contains(line, fieldMarker) else { continue }
            if contains(line, commonMarker) { continue }
            return contains(line, probeMarker)
        }
        return false
    }

    private static let fieldMarker = Array("field:".utf8)
    private static let commonMarker = Array(" common_".utf8)
    private static let probeMarker = Array(" __probe_ip;".utf8)

    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            var j = 1
            while j < needle.count, haystack[i + j] == needle[j] { j += 1 }
            if j == needle.count { return true }
        }
        return false
    }

    private static func fields(_ first: UnsafeMutablePointer<tep_format_field>?) -> [EventField] {
        var out: [EventField] = []
        var f = first
        while let field = f {
            let p = field.pointee
            let flags = UInt(p.flags)
            out.append(
                EventField(
                    name: String(cString: p.name),
                    type: p.type.map { String(cString: $0) } ?? "",
                    offset: Int(p.offset),
                    size: Int(p.size),
                    isSigned: flags & UInt(TEP_FIELD_IS_SIGNED.rawValue) != 0,
                    isDynamic: flags & UInt(TEP_FIELD_IS_DYNAMIC.rawValue) != 0,
                    isRelative: flags & UInt(TEP_FIELD_IS_RELATIVE.rawValue) != 0
                )
            )
            f = p.next
        }
        return out
    }

    /// The event type with this id, if the trace defines one.
    public func type(id: UInt16) -> EventType? {
        let i = Int(id)
        guard i < indexByID.count, indexByID[i] >= 0 else { return nil }
        return types[Int(indexByID[i])]
    }

    /// The event type named "system:name".
    public func type(named fullName: String) -> EventType? { types.first { $0.fullName == fullName } }

    /// One past the largest event id, for tables indexed by id.
    public var idLimit: Int { indexByID.count }
}

/// The formats of an opened trace, and what they name: the Decode stage's view of a source.
extension TraceSource {
    /// The event catalog of the capture's formats.
    public func catalog() throws(TraceFileError) -> EventCatalog {
        try EventCatalog(tracing: tracing, path: path, machine: machine, kernelRelease: kernelRelease)
    }

    /// The "system:event" names the capture had enabled, when the file says: `foliotrace
    /// record`'s option in a trace.dat, the tracepoint events perf.data lists (each was on,
    /// sampled or not); nil otherwise.
    public func enabledEvents(_ catalog: EventCatalog) -> Set<String>? {
        switch self {
        case .traceDat(let f): return f.options.enabledEvents
        case .perfData(let p):
            // PERF_TYPE_TRACEPOINT's config is the tracepoint's id in the formats.
            return Set(
                p.attrs.filter { $0.type == 2 }.compactMap { a in
                    UInt16(exactly: a.config).flatMap(catalog.type(id:))?.fullName
                }
            )
        }
    }
}
