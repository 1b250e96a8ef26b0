import FolioTraceKit
import Foundation
import Testing

/// The perf.data reader on real `perf record` captures (plain, `-z`, pipe mode), checked
/// against what perf itself says: the counts `perf script` gave at capture time (truth files)
/// and, when perf is installed, `perf script` run on the same file now.
@Suite struct PerfDataTests {
    @Test func fixturesArePresent() {
        #expect(PerfFixtures.traces.count >= 3, "fixtures/linux-6.18/perf should hold plain, -z and pipe captures")
    }

    /// Samples per event equal the `perf script` counts written down at capture time.
    @Test(arguments: PerfFixtures.traces)
    func countsMatchTruth(_ fixture: String) throws {
        let expected = try PerfFixtures.truthCounts(fixture)
        #expect(!expected.isEmpty)
        let total = expected.values.reduce(0, +)
        let source = try TraceSource(path: Fixtures.path(fixture))
        let decoder = try EventDecoder(catalog: try source.catalog(), path: source.path)
        let inventory = try TraceInventory(source: source, decoder: decoder)
        #expect(inventory.total == total)
        let ours = Dictionary(uniqueKeysWithValues: inventory.countsByName(decoder.catalog).map { ($0.name, $0.count) })
            .merging(inventory.otherEvents) { $0 + $1 }
        #expect(ours == expected)
        #expect(inventory.outOfOrder == 0)
        #expect(inventory.unknownRecords == 0 && inventory.malformedRecords == 0)
    }

    /// The events a perf.data says were on are the tracepoints `perf evlist` lists for it,
    /// sampled or not (so a silent one counts as present for the rules). For a pipe-mode
    /// file perf lists its tracepoints as "unknown tracepoint" (their formats come after the
    /// attributes): then the number must match.
    @Test(
        .enabled(if: PerfScript.isInstalled, "perf (Debian package linux-perf) is not installed"),
        arguments: PerfFixtures.traces
    )
    func enabledEventsAreWhatPerfEvlistLists(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let source = try TraceSource(path: path)
        let catalog = try source.catalog()
        let evlist = try CommandLineTests.execute(PerfScript.binary, ["evlist", "-i", path])
        #expect(evlist.status == 0, "\(evlist.stderr)")
        let known = Set(catalog.types.map(\.fullName))
        let lines = evlist.stdout.split(separator: "\n").map(String.init)
        let listed = Set(lines).intersection(known)
        let unnamed = lines.filter { $0 == "unknown tracepoint" }.count
        let enabled = try #require(source.enabledEvents(catalog))
        #expect(!enabled.isEmpty && listed.isSubset(of: enabled) && enabled.count == listed.count + unnamed)
    }

    /// The same samples as `perf script` prints, in the same order, with the same CPU and
    /// nanosecond timestamp, and the fields foliotrace decodes equal to the values perf's
    /// print format shows for every sample of the events checked.
    @Test(
        .enabled(if: PerfScript.isInstalled, "perf (Debian package linux-perf) is not installed"),
        arguments: PerfFixtures.traces
    )
    func sameSamplesAsPerfScript(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let expected = try PerfScript.samples(path)
        let file = try PerfFile(path: path)
        let catalog = try EventCatalog(tracing: file.tracing, path: path)
        let decoder = try EventDecoder(catalog: catalog, path: path)
        var records = file.orderedRecords()
        var index = 0
        var checkedFields = 0
        while let r = try records.next() {
            defer { index += 1 }
            guard index < expected.count else {
                Issue.record("\(fixture): more samples than perf script's \(expected.count)")
                return
            }
            let e = expected[index]
            let name = catalog.type(id: r.eventID)?.fullName ?? "?"
            guard r.cpu == e.cpu, r.timestamp == e.timestamp, name == e.event else {
                Issue.record(
                    "\(fixture) sample \(index): foliotrace [\(r.cpu)] \(r.timestamp) \(name), perf script [\(e.cpu)] \(e.timestamp) \(e.event)"
                )
                return
            }
            if let fragment = PerfDataTests.printed(decoder.decode(r)) {
                checkedFields += 1
                // Where perf cannot evaluate the print format (6.1's arm64 mm_page_alloc:
                // "function __builtin_constant_p not defined") it prints "[FAILED TO PARSE]"
                // and every field as name=value: each of ours must be among them.
                let fields = Set(e.text.split(separator: " "))
                let same =
                    e.text.contains("[FAILED TO PARSE]")
                    ? fragment.split(separator: " ").allSatisfy(fields.contains) : e.text.contains(fragment)
                guard same else {
                    Issue.record(
                        "\(fixture) sample \(index) \(name): perf script says '\(e.text)', foliotrace '\(fragment)'"
                    )
                    return
                }
            }
        }
        #expect(index == expected.count, "\(fixture): \(index) samples, perf script \(expected.count)")
        // the memcg workload is mostly events whose fields are compared; a system-wide capture
        // holds whatever the machine did
        let share = fixture.contains("memcg-reclaim") ? index / 2 : 0
        #expect(checkedFields > share, "\(fixture): \(checkedFields) samples had their fields compared")
    }

    /// How the event's print format shows the fields foliotrace decoded (nil: not compared).
    static func printed(_ event: MMEvent) -> String? {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        switch event {
        case .pageAlloc(let a): return a.pfn.map { "pfn=\(hex($0)) order=\(a.order) migratetype=\(a.migratetype)" }
        case .pageFree(let f): return "pfn=\(hex(f.pfn)) order=\(f.order)"
        case .pageFreeBatched(let f): return "pfn=\(hex(f.pfn))"
        case .lruInsertion(let l): return "pfn=\(hex(l.pfn)) lru=\(l.lru.rawValue)"
        case .lruActivate(let a): return "pfn=\(hex(a.pfn))"
        case .pageCacheAdd(let p), .pageCacheDelete(let p):
            return
                "dev \(p.major):\(p.minor) ino \(String(p.inode, radix: 16)) pfn=\(hex(p.pfn)) ofs=\(p.index << 12)"
        case .memcgStat(let m): return "memcg_id=\(m.memcgID) item=\(m.item) val=\(m.value)"
        case .pageFaultUser(let f):
            return "address=\(hex(f.address)) ip=\(hex(f.ip)) error_code=\(hex(f.errorCode))"
        default: return nil
        }
    }

    /// Plain, -z and pipe files say what they are.
    @Test func formats() throws {
        for fixture in PerfFixtures.traces {
            let file = try PerfFile(path: Fixtures.path(fixture))
            #expect(file.isPipe == fixture.contains("-pipe"), "\(fixture)")
            #expect((file.features.compression == 1) == fixture.contains("-z."), "\(fixture)")
            #expect(file.kernelRelease?.hasPrefix(PerfFixtures.kernelVersion(fixture) + ".") == true, "\(fixture)")
            #expect(file.cpuCount == 2)
            let others = file.attrs.filter { !$0.isTracepoint }
            // perf record -a adds a dummy software event for its side-band records; the mixed
            // capture recorded cpu-clock (software, config 0) beside the tracepoints
            let expected: [UInt64] = fixture.contains("system-wide") ? [9] : fixture.contains("mixed") ? [0] : []
            #expect(others.map(\.config) == expected && others.allSatisfy { $0.type == 1 }, "\(fixture)")
            #expect(!file.tracing.eventFormats.isEmpty)
        }
        for fixture in PerfFixtures.memcgReclaim {
            let file = try PerfFile(path: Fixtures.path(fixture))
            // at least perf's COMM of the workload before it execs, outside any compressed data
            #expect(!file.commands.isEmpty, "\(fixture)")
            // exec COMMs come from the ring buffers (compressed with -z): the pass learns them
            var records = file.orderedRecords()
            while try records.next() != nil {}
            #expect(Set(records.commands.values).isSuperset(of: ["bash", "ftload", "mkdir"]), "\(fixture)")
        }
    }

    /// perf writes whole rounds; the stream must not hand out a record before an older one.
    @Test(arguments: PerfFixtures.traces)
    func timeOrderedAcrossCPUs(_ fixture: String) throws {
        var records = try PerfFile(path: Fixtures.path(fixture)).orderedRecords()
        var last: UInt64 = 0
        var cpus = Set<Int32>()
        while let r = try records.next() {
            #expect(r.timestamp >= last)
            last = r.timestamp
            cpus.insert(r.cpu)
        }
        // the workloads may run on one CPU; the whole machine uses both
        if fixture.contains("system-wide") { #expect(cpus.count == 2) }
    }

    /// Lost samples per CPU are the PERF_RECORD_LOST records' counts (as perf script shows
    /// them); each loss reaches the engine as the next sample's `missedEvents` on that CPU.
    @Test(arguments: PerfFixtures.traces)
    func lostSamplesMatchTruth(_ fixture: String) throws {
        let expected = try PerfFixtures.lostPerCPU(fixture)
        var records = try PerfFile(path: Fixtures.path(fixture)).orderedRecords()
        var missed: [Int: Int64] = [:]
        while let r = try records.next() {
            if r.missedEvents != 0 { missed[Int(r.cpu), default: 0] += r.missedEvents }
        }
        var ours: [Int: UInt64] = [:]
        for (cpu, l) in records.lostEvents.enumerated() where l.counted > 0 { ours[cpu] = l.counted }
        #expect(ours == expected)
        #expect(missed.mapValues(UInt64.init) == expected.filter { $0.value > 0 })
        if fixture.contains("lost") {
            #expect(!expected.isEmpty, "the lost-samples capture lost samples")
            // perf record's LOST_SAMPLES summary repeats the same losses, per counter
            #expect(records.lostSamples == expected.values.reduce(0, +))
        }
    }

    /// The raw payload is the tracepoint's record, common fields first: common_type is the
    /// event id perf's attribute names in `config`.
    @Test(arguments: PerfFixtures.traces)
    func payloadStartsWithCommonFields(_ fixture: String) throws {
        let file = try PerfFile(path: Fixtures.path(fixture))
        let ids = Set(file.attrs.map { UInt16($0.config) })
        var records = file.orderedRecords()
        var n = 0
        while let r = try records.next(), n < 5_000 {
            #expect(ids.contains(r.eventID))
            #expect(r.payload.count % 4 == 0 && r.payload.count >= 8)
            n += 1
        }
    }
}
