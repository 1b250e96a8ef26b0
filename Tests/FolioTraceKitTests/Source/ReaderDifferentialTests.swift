import FolioTraceKit
import Testing

/// foliotrace's reader against libtracecmd's on every real fixture: the same records, CPU by
/// CPU, byte for byte, and the same merged order.
@Suite struct ReaderDifferentialTests {
    @Test func fixturesArePresent() {
        #expect(Fixtures.traces.count >= 3, "fixtures/ should hold real captures")
    }

    @Test(arguments: Fixtures.traces)
    func sameRecordsPerCPU(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let reference = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
        var streams = try file.cpuStreams()
        var total = 0
        for i in streams.indices {
            let expected = reference.records(cpu: streams[i].cpu)
            var index = 0
            while let r = try streams[i].next() {
                defer { index += 1 }
                guard index < expected.count else {
                    Issue.record(
                        "\(fixture) cpu \(streams[i].cpu): foliotrace has more records than libtracecmd (\(expected.count))"
                    )
                    break
                }
                let e = expected[index]
                let ours = ReferenceRecord(
                    cpu: r.cpu,
                    timestamp: r.timestamp,
                    eventID: Int32(r.eventID),
                    size: Int32(r.payload.count),
                    missedEvents: r.missedEvents,
                    payload: [UInt8](r.payload)
                )
                if ours != e {
                    Issue.record(
                        "\(fixture) cpu \(r.cpu) record \(index): foliotrace \(ours.timestamp)/\(ours.eventID)/\(ours.size)/\(ours.missedEvents), libtracecmd \(e.timestamp)/\(e.eventID)/\(e.size)/\(e.missedEvents)"
                    )
                    return
                }
            }
            #expect(
                index == expected.count,
                "\(fixture) cpu \(streams[i].cpu): \(index) records, libtracecmd \(expected.count)"
            )
            total += index
        }
        #expect(total > 0, "\(fixture) has records")
    }

    /// The merged stream hands out each CPU's records whole (payload bytes included) in the
    /// time order of `tracecmd_iterate_events`.
    @Test(arguments: Fixtures.traces)
    func sameMergedOrder(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let reference = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
        // A libtracecmd handle is consumed by reading: one for the order, one for the records.
        let expected = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
            .mergedOrder()
        var perCPU: [Int32: (records: [ReferenceRecord], next: Int)] = [:]
        for b in file.cpuBuffers { perCPU[Int32(b.cpu)] = (reference.records(cpu: Int32(b.cpu)), 0) }
        var merged = try file.mergedRecords()
        var index = 0
        var previous: UInt64 = 0
        while let r = try merged.next() {
            defer { index += 1 }
            #expect(r.timestamp >= previous, "merged stream goes back in time at \(index)")
            previous = r.timestamp
            let cpu = try #require(perCPU[r.cpu])
            let e = try #require(cpu.next < cpu.records.count ? cpu.records[cpu.next] : nil)
            perCPU[r.cpu]!.next += 1
            if e.timestamp != r.timestamp || e.payload != [UInt8](r.payload) {
                Issue.record(
                    "\(fixture) merged record \(index) (cpu \(r.cpu)) differs from libtracecmd's record of that CPU"
                )
                return
            }
            guard index < expected.count else { continue }
            // Records with equal timestamps may come in either CPU order; the timestamps agree.
            if expected[index].1 != r.timestamp {
                Issue.record(
                    "\(fixture) merged record \(index): foliotrace ts \(r.timestamp), libtracecmd \(expected[index].1)"
                )
                return
            }
        }
        #expect(index == expected.count)
    }

    @Test(arguments: Fixtures.traces)
    func lostEventsMatchLibtracecmd(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        let reference = try #require(ReferenceReader(path: path, instance: !file.primaryBuffer.name.isEmpty))
        var streams = try file.cpuStreams()
        for i in streams.indices {
            while try streams[i].next() != nil {}
            let expected = reference.records(cpu: streams[i].cpu, withPayload: false)
            let counted = expected.reduce(UInt64(0)) { $0 + UInt64(max($1.missedEvents, 0)) }
            let uncounted = expected.filter { $0.missedEvents < 0 }.count
            #expect(streams[i].lost.counted == counted, "\(fixture) cpu \(streams[i].cpu) lost events")
            #expect(streams[i].lost.uncountedPages == uncounted, "\(fixture) cpu \(streams[i].cpu) uncounted losses")
        }
    }
}
