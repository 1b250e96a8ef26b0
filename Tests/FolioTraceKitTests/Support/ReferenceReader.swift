import CTraceCmd
import CTraceEvent
import Foundation

/// One record as libtracecmd reads it: the reference the differential tests compare with.
struct ReferenceRecord: Equatable {
    var cpu: Int32
    var timestamp: UInt64
    var eventID: Int32
    var size: Int32
    var missedEvents: Int64
    var payload: [UInt8]
}

/// Reads a trace.dat with libtracecmd (trace-cmd's own reader, Debian's libtracecmd).
final class ReferenceReader {
    private let input: OpaquePointer
    private let handle: OpaquePointer
    let tep: OpaquePointer

    /// Opens `path`; `instance` selects the first instance buffer instead of the top one.
    init?(path: String, instance: Bool) {
        guard let input = tracecmd_open(path, 0) else { return nil }
        self.input = input
        if instance {
            guard let h = tracecmd_buffer_instance_handle(input, 0) else {
                tracecmd_close(input)
                return nil
            }
            handle = h
        } else {
            handle = input
        }
        tep = tracecmd_get_tep(handle)
    }

    deinit {
        if handle != input { tracecmd_close(handle) }
        tracecmd_close(input)
    }

    /// All records of one CPU in that CPU's order (`tracecmd_read_data`).
    func records(cpu: Int32, withPayload: Bool = true) -> [ReferenceRecord] {
        var out: [ReferenceRecord] = []
        while let r = tracecmd_read_data(handle, cpu) {
            let rec = r.pointee
            let payload = withPayload ? [UInt8](UnsafeRawBufferPointer(start: rec.data, count: Int(rec.size))) : []
            out.append(
                ReferenceRecord(
                    cpu: rec.cpu,
                    timestamp: rec.ts,
                    eventID: tep_data_type(tep, r),
                    size: rec.size,
                    missedEvents: Int64(rec.missed_events),
                    payload: payload
                )
            )
            tracecmd_free_record(r)
        }
        return out
    }

    /// The merged order of `tracecmd_iterate_events`: (cpu, timestamp) of every record.
    func mergedOrder() -> [(Int32, UInt64)] {
        final class Box { var order: [(Int32, UInt64)] = [] }
        let box = Box()
        withExtendedLifetime(box) {
            _ = tracecmd_iterate_events(
                handle,
                nil,
                0,
                { _, record, cpu, context in
                    let b = Unmanaged<Box>.fromOpaque(context!).takeUnretainedValue()
                    b.order.append((Int32(cpu), record!.pointee.ts))
                    return 0
                },
                Unmanaged.passUnretained(box).toOpaque()
            )
        }
        return box.order
    }

    /// libtraceevent's value of a named field of a record's payload, or nil if absent.
    func fieldValue(eventID: Int32, name: String, payload: [UInt8]) -> UInt64? {
        guard let event = tep_find_event(tep, eventID), let field = tep_find_field(event, name) else { return nil }
        var value: UInt64 = 0
        let rc = payload.withUnsafeBytes { tep_read_number_field(field, $0.baseAddress, &value) }
        return rc == 0 ? value : nil
    }

    /// The byte size of a named field, or nil.
    func fieldSize(eventID: Int32, name: String) -> Int? {
        guard let event = tep_find_event(tep, eventID), let field = tep_find_field(event, name) else { return nil }
        return Int(field.pointee.size)
    }
}
