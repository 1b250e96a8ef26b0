import Foundation
import Testing

@testable import FolioTraceKit

/// `LiveMerge`, tail's merge of the CPUs' spools: fed a real trace.dat's pages one CPU at a
/// time, in bursts, as reader threads spool them, it hands out the records in the order the
/// file's merge gives, and only that order; handing out what the spools hold without waiting,
/// as tail did before it, gives another order on the same schedule.
@Suite struct LiveMergeTests {
    struct Seen: Equatable, CustomStringConvertible {
        var cpu: Int32
        var timestamp: UInt64
        var payload: [UInt8]
        var description: String { "CPU \(cpu) at \(timestamp) (\(payload.count) bytes)" }
    }

    /// A CPU's pages as the file holds them, and the time in each page's header: every event
    /// of a page is at or after it, so once pages `0...j` are spooled, the CPU is complete up to
    /// the header time of page `j + 1`.
    struct Pages {
        var bytes: [Data]
        var times: [UInt64]
    }

    static func pages(of file: TraceFile, path: String) throws -> [Pages] {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        return try file.cpuBuffers.map { buffer in
            try handle.seek(toOffset: buffer.offset)
            let data = try handle.read(upToCount: Int(buffer.size)) ?? Data()
            let size = buffer.pageSize
            let pages = stride(from: 0, to: data.count - size + 1, by: size).map { data.subdata(in: $0..<$0 + size) }
            return Pages(bytes: pages, times: pages.map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } })
        }
    }

    /// An empty spool a CPU of `cpus` (in `dir`, memory for all its pages) and the merge over
    /// them, as `LiveSession` makes them.
    static func merge(_ cpus: [Pages], file: TraceFile, in dir: URL) throws -> (LiveMerge, [PageSpool]) {
        let spools = try cpus.map {
            try PageSpool(pageSize: file.pageSize, memoryPages: max($0.bytes.count, 1), directory: dir.path)
        }
        let streams = spools.indices.map { CPUStream(live: spools[$0], cpu: $0, file: file) }
        return (LiveMerge(streams: streams, spools: spools), spools)
    }

    /// Pushes every CPU's pages in bursts of 1 to 5 pages, one CPU after another; after each
    /// burst the CPU says how far it is complete (`vouching`), and the merge gives out what it
    /// can. Returns what it gave out and the records it counted as late.
    static func replay(_ cpus: [Pages], file: TraceFile, vouching: Bool) throws -> (seen: [Seen], late: UInt64) {
        let dir = try Fixtures.scratch("live-merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let pageSize = file.pageSize
        var (merge, spools) = try Self.merge(cpus, file: file, in: dir)
        if !vouching { for s in spools { s.markComplete(through: .max) } }
        var seen: [Seen] = []
        func drain() throws {
            while let r = try merge.next() {
                seen.append(Seen(cpu: r.cpu, timestamp: r.timestamp, payload: Array(r.payload)))
            }
        }
        var next = Array(repeating: 0, count: cpus.count)
        var step = 0
        while next.indices.contains(where: { next[$0] < cpus[$0].bytes.count }) {
            let cpu = step % cpus.count
            let burst = 1 + (step * 7) % 5
            step += 1
            guard next[cpu] < cpus[cpu].bytes.count else { continue }
            for _ in 0..<burst where next[cpu] < cpus[cpu].bytes.count {
                try cpus[cpu].bytes[next[cpu]].withUnsafeBytes {
                    try spools[cpu].push($0.baseAddress!, bytes: pageSize)
                }
                next[cpu] += 1
            }
            if vouching {
                let done = next[cpu] == cpus[cpu].bytes.count
                spools[cpu].markComplete(through: done ? .max : cpus[cpu].times[next[cpu]])
            }
            try drain()
        }
        try drain()
        return (seen, merge.lateRecords)
    }

    @Test(arguments: ["linux-6.18/memcg-reclaim-foreign-v6.dat", "trace-cmd-2.x/record-2.9.1.dat"])
    func givesTheFilesOrderAsPagesArrive(_ fixture: String) throws {
        let path = Fixtures.path(fixture)
        let file = try TraceFile(path: path)
        var merged = try MergedStream(file: file)
        var expected: [Seen] = []
        while let r = try merged.next() {
            expected.append(Seen(cpu: r.cpu, timestamp: r.timestamp, payload: Array(r.payload)))
        }
        let cpus = try Self.pages(of: file, path: path)
        #expect(cpus.filter { !$0.bytes.isEmpty }.count >= 2, "a merge needs two CPUs with pages")
        #expect(expected.count > 1000)

        let vouched = try Self.replay(cpus, file: file, vouching: true)
        #expect(vouched.late == 0)
        #expect(vouched.seen.count == expected.count)
        if let i = zip(vouched.seen, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("record \(i): \(vouched.seen[i]), the file's merge has \(expected[i])")
        }

        // The same schedule taking what the spools hold: records come out of order, and are
        // counted as such.
        let unvouched = try Self.replay(cpus, file: file, vouching: false)
        #expect(unvouched.seen.count == expected.count)
        #expect(unvouched.seen != expected)
        #expect(unvouched.late > 0)
    }

    /// A CPU that never vouches (its reader found its buffer busy each time) holds every other
    /// CPU's records back, and they all come out once it does.
    @Test func aSilentCPUHoldsTheOthersBack() throws {
        let path = Fixtures.path("linux-6.18/memcg-reclaim-foreign-v6.dat")
        let file = try TraceFile(path: path)
        let cpus = try Self.pages(of: file, path: path)
        let dir = try Fixtures.scratch("live-merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        var (merge, spools) = try Self.merge(cpus, file: file, in: dir)
        for page in cpus[0].bytes {
            try page.withUnsafeBytes { try spools[0].push($0.baseAddress!, bytes: file.pageSize) }
        }
        spools[0].markComplete(through: .max)
        #expect(try merge.next() == nil, "CPU 1 has said nothing")
        // CPU 1 says it is complete up to its middle page's time (as if it had none before):
        // CPU 0's records before that come out, and none after.
        let first = cpus[1].times[cpus[1].times.count / 2]
        spools[1].markComplete(through: first)
        var before = 0
        while let r = try merge.next() {
            #expect(r.timestamp < first)
            before += 1
        }
        #expect(before > 0)
        spools[1].markComplete(through: .max)
        var after = 0
        while try merge.next() != nil { after += 1 }
        var merged = try MergedStream(file: file)
        var onCPU0 = 0
        while let r = try merged.next() { onCPU0 += r.cpu == 0 ? 1 : 0 }
        #expect(after > 0)
        #expect(before + after == onCPU0)
        #expect(merge.lateRecords == 0)
    }
}
