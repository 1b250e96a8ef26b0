/// Raw events written to Perfetto field by field through their names: Perfetto's ftrace
/// protos are generated from the kernel's format files, so a kernel field and the proto field
/// of the same name are the same value. The events foliotrace does not decode (compaction)
/// or decodes only in part (mm_shrink_slab_*) are written this way, reading the fields the
/// trace's own format file places.
///
/// Numbers: protos/perfetto/trace/ftrace/ftrace_event.proto (the `oneof event` member),
/// compaction.proto and vmscan.proto (the fields), at the commit `PerfettoField` names.
struct PerfettoNamedEvents {
    enum Kind {
        case u64, u32, i32, i64
    }

    static let table: [String: (number: Int, fields: [String: (number: Int, kind: Kind)])] = {
        let nidIdxOrder: [String: (number: Int, kind: Kind)] = [
            "nid": (1, .i32), "idx": (2, .u32), "order": (3, .i32),
        ]
        let deferred = nidIdxOrder.merging(
            ["considered": (4, .u32), "defer_shift": (5, .u32), "order_failed": (6, .i32)],
            uniquingKeysWith: { a, _ in a }
        )
        let verdict = nidIdxOrder.merging(["ret": (4, .i32)], uniquingKeysWith: { a, _ in a })
        let range: [String: (number: Int, kind: Kind)] = [
            "zone_start": (1, .u64), "migrate_pfn": (2, .u64), "free_pfn": (3, .u64), "zone_end": (4, .u64),
            "sync": (5, .u32),
        ]
        let isolate: [String: (number: Int, kind: Kind)] = [
            "start_pfn": (1, .u64), "end_pfn": (2, .u64), "nr_scanned": (3, .u64), "nr_taken": (4, .u64),
        ]
        let wake: [String: (number: Int, kind: Kind)] = [
            "nid": (1, .i32), "order": (2, .i32), "classzone_idx": (3, .u32), "highest_zoneidx": (4, .u32),
        ]
        return [
            "compaction:mm_compaction_begin": (99, range),
            "compaction:mm_compaction_defer_compaction": (100, deferred),
            "compaction:mm_compaction_deferred": (101, deferred),
            "compaction:mm_compaction_defer_reset": (102, deferred),
            "compaction:mm_compaction_end": (
                103, range.merging(["status": (6, .i32)], uniquingKeysWith: { a, _ in a })
            ),
            "compaction:mm_compaction_finished": (104, verdict),
            "compaction:mm_compaction_isolate_freepages": (105, isolate),
            "compaction:mm_compaction_isolate_migratepages": (106, isolate),
            "compaction:mm_compaction_kcompactd_sleep": (107, ["nid": (1, .i32)]),
            "compaction:mm_compaction_kcompactd_wake": (108, wake),
            "compaction:mm_compaction_migratepages": (109, ["nr_migrated": (1, .u64), "nr_failed": (2, .u64)]),
            "compaction:mm_compaction_suitable": (110, verdict),
            "compaction:mm_compaction_try_to_compact_pages": (
                111, ["order": (1, .i32), "gfp_mask": (2, .u32), "mode": (3, .u32), "prio": (4, .i32)]
            ),
            "compaction:mm_compaction_wakeup_kcompactd": (112, wake),
            "vmscan:mm_shrink_slab_start": (
                443,
                [
                    "cache_items": (1, .u64), "delta": (2, .u64), "gfp_flags": (3, .u32), "lru_pgs": (4, .u64),
                    "nr_objects_to_shrink": (5, .i64), "pgs_scanned": (6, .u64), "shr": (7, .u64), "shrink": (8, .u64),
                    "total_scan": (9, .u64), "nid": (10, .i32), "priority": (11, .i32),
                ]
            ),
            "vmscan:mm_shrink_slab_end": (
                444,
                [
                    "new_scan": (1, .i64), "retval": (2, .i32), "shr": (3, .u64), "shrink": (4, .u64),
                    "total_scan": (5, .i64), "unused_scan": (6, .i64), "nid": (7, .i32),
                ]
            ),
        ]
    }()

    struct Field {
        var slot: FieldSlot
        var signed: Bool
        var number: Int
        var kind: Kind
    }

    struct Event {
        var number: Int
        var fields: [Field]
        /// The shortest payload that holds every field.
        var length: Int
    }

    /// By event id (an array: looked up for every record).
    private var events: [Event?] = []

    /// The event with id `id`, when it is one of `table`'s.
    subscript(_ id: UInt16) -> Event? { Int(id) < events.count ? events[Int(id)] : nil }

    /// Reads the formats of the events in `table` from the trace's format files.
    init(formats: [(system: String, format: UnsafeRawBufferPointer)], bigEndian: Bool) {
        for (system, bytes) in formats where system == "compaction" || system == "vmscan" {
            let text = String(decoding: bytes, as: UTF8.self)
            var name: String?
            var id: UInt16?
            var fields: [(name: String, offset: Int, size: Int, signed: Bool)] = []
            for line in text.split(separator: "\n") {
                let l = line.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
                if l.hasPrefix("name: ") {
                    name = String(l.dropFirst(6))
                } else if l.hasPrefix("ID: ") {
                    id = UInt16(l.dropFirst(4))
                } else if l.hasPrefix("field:"), let f = Self.field(l) {
                    fields.append(f)
                }
            }
            guard let name, let id, let entry = Self.table["\(system):\(name)"] else { continue }
            var event = Event(number: entry.number, fields: [], length: 0)
            for f in fields {
                guard let (number, kind) = entry.fields[f.name],
                    let slot = FieldSlot(offset: f.offset, size: f.size, bigEndian: bigEndian)
                else { continue }
                event.fields.append(Field(slot: slot, signed: f.signed, number: number, kind: kind))
                event.length = max(event.length, slot.end)
            }
            if Int(id) >= events.count { events += [Event?](repeating: nil, count: Int(id) + 1 - events.count) }
            events[Int(id)] = event
        }
    }

    /// One `field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;` line of a format, for a scalar
    /// field (arrays and `__data_loc` strings are left out: no event here has one Perfetto
    /// reads).
    static func field(_ line: Substring) -> (name: String, offset: Int, size: Int, signed: Bool)? {
        let parts = line.split(separator: ";").map { $0.trimmingPrefix(while: { $0 == " " || $0 == "\t" }) }
        guard parts.count >= 4, !parts[0].contains("["), !parts[0].contains("__data_loc") else { return nil }
        guard let name = parts[0].split(separator: " ").last,
            let offset = parts.first(where: { $0.hasPrefix("offset:") }).flatMap({ Int($0.dropFirst(7)) }),
            let size = parts.first(where: { $0.hasPrefix("size:") }).flatMap({ Int($0.dropFirst(5)) }),
            [1, 2, 4, 8].contains(size)
        else { return nil }
        let signed = parts.first(where: { $0.hasPrefix("signed:") }).map { $0.dropFirst(7) == "1" } ?? false
        return (String(name), offset, size, signed)
    }

    /// Writes `event`'s fields from `payload` as its Perfetto message into `w`.
    static func write(_ event: Event, _ payload: UnsafeRawBufferPointer, into w: inout ProtoWriter) {
        let m = w.begin(event.number)
        for f in event.fields {
            let value = f.signed ? f.slot.signed(payload) : Int64(bitPattern: f.slot.unsigned(payload))
            switch f.kind {
            case .u64: w.uint(f.number, UInt64(bitPattern: value))
            case .u32: w.uint(f.number, UInt64(UInt32(truncatingIfNeeded: value)))
            case .i32: w.int(f.number, Int64(Int32(truncatingIfNeeded: value)))
            case .i64: w.int(f.number, value)
            }
        }
        w.end(m)
    }
}
