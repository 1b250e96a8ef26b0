import Foundation
import Testing

@testable import FolioTraceKit

/// Records read ahead on another thread (`ReadAheadStream`) are the single-threaded pass's:
/// the same records with the same bytes, in the same order, the same end or error, and the
/// base stream left where the caller stopped; and every `analyze` output is the same with
/// `FOLIOTRACE_SERIAL=1` (read in line).
@Suite struct ReadAheadTests {
    /// A record as the tests compare them: every field and the payload's bytes.
    struct Seen: Equatable {
        let timestamp: UInt64
        let cpu: Int32
        let missedEvents: Int64
        let bigEndian: Bool
        let payload: [UInt8]

        init(_ r: RawRecord) {
            timestamp = r.timestamp
            cpu = r.cpu
            missedEvents = r.missedEvents
            bigEndian = r.bigEndian
            payload = Array(r.payload)
        }
    }

    /// Every record of `stream` up to and including the first for which `stop` holds.
    static func drain<S: RecordStream>(_ stream: inout S, stop: (RawRecord) -> Bool = { _ in false }) throws -> [Seen] {
        var seen: [Seen] = []
        while let r = try stream.next() {
            seen.append(Seen(r))
            if stop(r) { break }
        }
        return seen
    }

    /// Small batches and arenas (fewer records than a page holds, payloads larger than an
    /// arena) so that every hand-over path runs: a full batch, a full arena, a record larger
    /// than an empty arena, a reader waiting for the caller.
    static let sizes: [ReadAheadStream<MergedStream>.Sizes] = [
        .init(),
        .init(batchesInFlight: 1, recordsPerBatch: 7, arenaBytes: 64),
        .init(batchesInFlight: 2, recordsPerBatch: 1000, arenaBytes: 4096),
    ]

    @Test(arguments: ["linux-6.12/healthy-mix-record.dat", "linux-6.18/memcg-reclaim-foreign-v7-zstd.dat"])
    func sameRecordsAsTheBaseStream(_ fixture: String) throws {
        let file = try TraceFile(path: Fixtures.path(fixture))
        var direct = try file.mergedRecords()
        let expected = try Self.drain(&direct)
        #expect(expected.count > 10_000, "too few records to cross batches: \(expected.count)")
        for sizes in Self.sizes {
            var ahead = ReadAheadStream(try file.mergedRecords(), sizes: sizes)
            #expect(try Self.drain(&ahead) == expected, "\(sizes)")
            #expect(try ahead.next() == nil)
            #expect(ahead.lostEvents == direct.lostEvents && ahead.damageNotes == direct.damageNotes)
        }
    }

    /// Stopped in the middle, the base stream is where the single-threaded one is when its
    /// caller stops at the same record (its losses so far are the reader's, not further on).
    @Test func stopsWhereTheCallerStops() throws {
        let file = try TraceFile(path: Fixtures.path("linux-6.12/healthy-mix-record.dat"))
        var direct = try file.mergedRecords()
        let all = try Self.drain(&direct)
        let cut = all[all.count / 2].timestamp
        let stop: (RawRecord) -> Bool = { $0.timestamp > cut }
        let window: (UInt64) -> (start: UInt64, end: UInt64) = { _ in (0, cut) }
        var serial = try file.mergedRecords()
        let expected = try Self.drain(&serial, stop: stop)
        #expect(expected.count < all.count)
        for sizes in Self.sizes {
            var ahead = ReadAheadStream(try file.mergedRecords(), window: window, sizes: sizes)
            #expect(try Self.drain(&ahead, stop: stop) == expected, "\(sizes)")
            #expect(ahead.finished.fractionRead == serial.fractionRead)
            #expect(ahead.lostEvents == serial.lostEvents)
        }
    }

    /// Decoded batches handed over in place (`nextDecodedBatch`, `TraceAnalysis`'s loop) hold
    /// the records and events of decoding in line, across small batches, up to the record
    /// where the caller stops; the base stream is then left where the in-line one is.
    @Test(arguments: ["linux-6.12/healthy-mix-record.dat", "linux-6.18/lost-events.dat"])
    func decodedBatchesAsInLine(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let decoder = try EventDecoder(catalog: try TraceSource.traceDat(file).catalog(), path: path)
        /// A record and the case of its event (an event is a view of its record's bytes).
        func seen(_ r: RawRecord, _ event: MMEvent) -> String {
            "\(Seen(r)) \(Mirror(reflecting: event).children.first?.label ?? "\(event)")"
        }
        var direct = try file.mergedRecords()
        let all = try Self.drain(&direct)
        let cut = all[all.count * 2 / 3].timestamp
        let window: (UInt64) -> (start: UInt64, end: UInt64) = { _ in (0, cut) }
        var serial = try file.mergedRecords()
        var expected: [String] = []
        while let r = try serial.next() {
            expected.append(seen(r, decoder.decode(r)))
            if r.timestamp > cut { break }
        }
        let events = Set(expected.map { $0.split(separator: " ").last! })
        #expect(events.count > 5, "too few kinds of events to prove anything: \(events)")
        for sizes in Self.sizes {
            var ahead = ReadAheadStream(try file.mergedRecords(), window: window, decoder: decoder, sizes: sizes)
            #expect(ahead.decodesAhead)
            var got: [String] = []
            var slotsAmiss = 0
            batches: while let batch = try ahead.nextDecodedBatch() {
                for i in 0..<batch.count {
                    let r = batch.record(i)
                    got.append(seen(r, batch.events[i]))
                    // The pfn a slot keeps for the loop's prefetch (`LifecycleEngine+Prefetch`)
                    // is its event's.
                    if batch.slots[i].folioPfn != batch.events[i].folioPfn { slotsAmiss += 1 }
                    if r.timestamp > cut { break batches }
                }
            }
            #expect(slotsAmiss == 0, "\(sizes)")
            let differ = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(
                got.count == expected.count && differ == nil,
                "\(sizes): \(got.count) records, \(expected.count) in line; first differing at \(differ.map(String.init) ?? "none")"
            )
            #expect(ahead.finished.fractionRead == serial.fractionRead)
            #expect(ahead.lostEvents == serial.lostEvents)
        }
    }

    /// Cut copies of a v6 file (its CPU data last: a cut leaves the headers whole, and a CPU's
    /// pages end early): the same records, then the same end or error and damage notes.
    @Test func cutCopiesAsInLine() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("linux-6.18/memcg-reclaim-foreign-v6.dat")))
        let dir = try Fixtures.scratch("read-ahead")
        defer { try? FileManager.default.removeItem(at: dir) }
        func outcome<S: RecordStream>(_ s: inout S) -> (seen: [Seen], error: String?) {
            var seen: [Seen] = []
            do {
                while let r = try s.next() { seen.append(Seen(r)) }
                return (seen, nil)
            } catch {
                return (seen, "\(error)")
            }
        }
        var damaged = 0
        for percent in [40, 60, 80, 97] {
            let url = dir.appendingPathComponent("cut-\(percent).dat")
            try data.prefix(data.count * percent / 100).write(to: url)
            let file = try TraceFile(path: url.path)
            var direct = try file.mergedRecords()
            let expected = outcome(&direct)
            if expected.error != nil || !direct.damageNotes.isEmpty { damaged += 1 }
            for sizes in Self.sizes {
                var ahead = ReadAheadStream(try file.mergedRecords(), sizes: sizes)
                let got = outcome(&ahead)
                #expect(got.seen == expected.seen && got.error == expected.error, "cut at \(percent)%: \(sizes)")
                #expect(ahead.damageNotes == direct.damageNotes)
            }
        }
        #expect(damaged > 0, "no cut copy was damaged: the test proves nothing")
    }

    /// The whole analysis, read ahead and in line, on every fixture (trace.dat and perf.data)
    /// and on windows that end inside the trace.
    @Test(arguments: Fixtures.traces + PerfFixtures.traces)
    func analyzeAsInLine(_ fixture: String) throws {
        try InflateAheadTests.expectSame(["analyze", "--format", "json", Fixtures.path(fixture)])
    }

    @Test(arguments: ["linux-6.12/healthy-mix-record.dat", "linux-6.18/memcg-reclaim-foreign.dat"])
    func windowsAsInLine(_ fixture: String) throws {
        for until in ["+1ms", "+200ms", "+1s"] {
            try InflateAheadTests.expectSame(["analyze", "--format", "json", "--until", until, Fixtures.path(fixture)])
        }
        try InflateAheadTests.expectSame(["analyze", "--since", "+100ms", "--until", "+300ms", Fixtures.path(fixture)])
        // A window that ends before it starts: whatever analyze says of it, it says it alike.
        try InflateAheadTests.expectSame(["analyze", "--since", "+300ms", "--until", "+100ms", Fixtures.path(fixture)])
    }
}
