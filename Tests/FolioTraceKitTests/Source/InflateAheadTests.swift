import Foundation
import Testing

@testable import FolioTraceKit

/// Compressed chunks inflated on another core while the one before is read
/// (`InflatingChunk`) give the single-threaded pass's results byte for byte: the same
/// command on the same file with `FOLIOTRACE_SERIAL=1` (every chunk inflated in line)
/// prints the same, on every fixture, on the corpus's v7 file and on copies whose chunks are
/// damaged or cut (the damage named in the same words, at the same place).
@Suite struct InflateAheadTests {
    static func both(_ arguments: [String]) throws -> (ahead: Subprocess.Result, serial: Subprocess.Result) {
        let binary = CommandLineTests.binary
        var serial = ProcessInfo.processInfo.environment
        serial["FOLIOTRACE_SERIAL"] = "1"
        var ahead = ProcessInfo.processInfo.environment
        ahead["FOLIOTRACE_SERIAL"] = nil
        return (
            try Subprocess.run(binary, arguments, environment: ahead),
            try Subprocess.run(binary, arguments, environment: serial)
        )
    }

    static func expectSame(_ arguments: [String]) throws {
        let r = try both(arguments)
        #expect(r.ahead.status == r.serial.status, "\(arguments)")
        #expect(r.ahead.stdout == r.serial.stdout, "\(arguments): stdout differs")
        #expect(r.ahead.stderr == r.serial.stderr, "\(arguments): stderr differs")
        #expect(!r.ahead.stdout.isEmpty || !r.ahead.stderr.isEmpty, "\(arguments): no output at all")
    }

    static let corpusV7 = "corpus/tracedat/langraph-2022-v7-zstd-stacktrace-x86_64.dat"

    @Test(arguments: Fixtures.traces + [corpusV7])
    func eventsAsInLine(_ fixture: String) throws {
        try Self.expectSame(["events", "--format", "json", Fixtures.path(fixture)])
    }

    /// The whole analysis on the fixtures with the most chunks of each kind of workload.
    @Test(arguments: [
        "linux-6.12/healthy-mix-record.dat", "linux-6.12/freed-while-isolated.dat",
        "linux-6.18/memcg-reclaim-foreign-v7-zstd.dat", "linux-6.12-arm64/thp-mlock-counted.dat", corpusV7,
    ])
    func analyzeAsInLine(_ fixture: String) throws {
        try Self.expectSame(["analyze", "--format", "json", Fixtures.path(fixture)])
    }

    /// Copies with bytes flipped at several places in the CPU data (chunks that do not
    /// inflate are skipped and named) and cut there (the chunk table or a chunk ends early).
    @Test func damagedChunksAsInLine() throws {
        let fixture = "linux-6.12/healthy-mix-record.dat"
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(fixture)))
        let dir = try Fixtures.scratch("inflate-ahead")
        defer { try? FileManager.default.removeItem(at: dir) }
        var damaged = 0
        for percent in [55, 70, 85, 95] {
            let at = data.count * percent / 100
            var flipped = data
            for i in at..<(at + 64) { flipped[i] ^= 0x5a }
            let url = dir.appendingPathComponent("flip-\(percent).dat")
            try flipped.write(to: url)
            let r = try Self.both(["events", url.path])
            if r.ahead.stdout.contains("skipped") || r.ahead.stderr.contains("skipped") { damaged += 1 }
            try Self.expectSame(["events", "--format", "json", url.path])
            try Self.expectSame(["analyze", "--format", "json", url.path])
            let cut = dir.appendingPathComponent("cut-\(percent).dat")
            try data.prefix(at).write(to: cut)
            try Self.expectSame(["events", "--format", "json", cut.path])
        }
        #expect(damaged > 0, "no copy had a chunk that failed to inflate: the test proves nothing")
    }

    /// Runs `arguments` under `ulimit -v limit` (KiB), in line or not.
    static func limited(
        _ limit: Int,
        _ arguments: [String],
        serial: Bool,
        timeout: Double = 60
    ) throws
        -> Subprocess.Result
    {
        var environment = ProcessInfo.processInfo.environment
        environment["FOLIOTRACE_SERIAL"] = serial ? "1" : nil
        return try Subprocess(
            "/bin/sh",
            ["-c", "ulimit -v $0 && exec \"$@\"", "\(limit)", CommandLineTests.binary] + arguments,
            environment: environment
        ).wait(timeout: timeout)
    }

    /// Why the limit test cannot run with this binary, if it cannot: a sanitizer's runtime
    /// reserves terabytes of shadow memory, so no `ulimit -v` here lets it start.
    static let limitsUnusable: String? = {
        guard let r = try? limited(1 << 20, ["--version"], serial: true), r.status == 0 else {
            return "\(CommandLineTests.binary) does not start under ulimit -v 1 GiB (a sanitizer build?)"
        }
        return nil
    }()

    /// Under an address-space limit, every command finishes with the in-line pass's output
    /// wherever the in-line pass works. libdispatch, which inflated chunks ahead before, waited
    /// for a worker thread it could not start forever (`events` of the v7 file hung under
    /// `ulimit -v 40000` to `50000`); `analyze`'s threads took the room its in-line pass needed
    /// (it died on a failed allocation up to 60000, and hung up to 80000), and so did the head
    /// table's directory (the in-line pass of the v6 file died under 50663). From the smallest
    /// limit where the in-line pass works (found here, within 1 MiB: the binary's size differs
    /// by build) up by 40 MiB, past a thread's 8 MiB stack, and at three limits with room for
    /// threads, each command ends within its timeout with that output (one clear line and
    /// status 2 would be allowed too): never a hang or a crash.
    @Test(Prerequisite.condition(limitsUnusable))
    func smallAddressSpaceFinishesAsInLine() throws {
        let files = ["linux-6.18/memcg-reclaim-foreign-v7-zstd.dat", "linux-6.18/memcg-reclaim-foreign-v6.dat"]
        for file in files.map(Fixtures.path) {
            for command in ["events", "analyze"] {
                let arguments = [command, "--format", "json", file]
                let reference = try Self.limited(1 << 22, arguments, serial: true)
                try #require(reference.status == 0 && !reference.stdout.isEmpty)
                let works = { (limit: Int) throws -> Bool in
                    let r = try Self.limited(limit, arguments, serial: true)
                    return r.status == 0 && r.stdout == reference.stdout
                }
                var (low, high) = (8 << 10, 1 << 20)  // fails, works (KiB)
                try #require(try works(high) && !works(low))
                while high - low > 1024 {
                    let middle = (low + high) / 2
                    if try works(middle) { high = middle } else { low = middle }
                }
                var completed = 0
                // From the floor up by 40 MiB (past a thread's 8 MiB stack), then where threads
                // have room again (`AddressSpace.room` above what the process maps).
                let limits =
                    Array(stride(from: high, through: high + 40 << 10, by: 4 << 10))
                    + [high + 256 << 10, high + 320 << 10, high + 512 << 10]
                for limit in limits {
                    let r = try Self.limited(limit, arguments, serial: false)
                    #expect(!r.timedOut, "\(command) under ulimit -v \(limit) hung")
                    let same = r.status == 0 && r.stdout == reference.stdout && r.stderr == reference.stderr
                    let oneLine =
                        r.status == 2 && r.stdout.isEmpty && r.stderr.hasPrefix("foliotrace: ")
                        && r.stderr.filter { $0 == "\n" }.count == 1
                    #expect(
                        same || oneLine,
                        "\(command) under ulimit -v \(limit): status \(r.status), \(r.stderr.prefix(300))"
                    )
                    if same { completed += 1 }
                }
                // The pass ahead needs no more than the pass in line, give or take a thread.
                #expect(completed == limits.count, "\(command): \(completed) of \(limits.count) limits gave the output")
            }
        }
    }

    /// The inflater without a thread (`pthread_create` failed) and with one: every chunk is
    /// inflated, by the reader when nobody else has taken it, to the bytes and the problem
    /// the in-line call gives; a chunk its reader lets go of leaves the queue.
    @Test(arguments: [false, true])
    func inflaterWithOrWithoutAThread(_ threaded: Bool) {
        let inflater = ChunkInflater(start: threaded ? { startThread(name: "test-zip", $0) } : { _ in EAGAIN })
        let pages = (0..<6).map { k in
            Data((0..<(16_384 + k * 4096)).map { UInt8(truncatingIfNeeded: $0 * (k + 3) / 7) })
        }
        var chunks = pages.map { ZstdCompressor.compress($0) }
        chunks[4][chunks[4].count / 2] ^= 0xff  // a damaged frame
        let owner = NSObject()
        do {
            let frames = chunks.map { chunk in
                let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count, alignment: 16)
                bytes.copyBytes(from: chunk)
                return bytes
            }
            defer { for f in frames { f.deallocate() } }
            let jobs = frames.indices.map { i in
                ChunkInflater.Job(
                    index: i,
                    compressed: UnsafeRawBufferPointer(frames[i]),
                    size: pages[i].count,
                    buffer: OwnedBytes(count: pages[i].count),
                    compression: .zstd,
                    owner: owner
                )
            }
            for job in jobs { inflater.submit(job) }
            inflater.withdraw(jobs[5])
            for i in 0..<5 {
                let problem = inflater.wait(for: jobs[i])
                let inLine = OwnedBytes(count: pages[i].count)
                var expected: String?
                do throws(TraceProblem) {
                    try InflatingChunk.inflate(
                        UnsafeRawBufferPointer(frames[i]),
                        size: pages[i].count,
                        into: inLine,
                        index: i,
                        .zstd
                    )
                } catch {
                    expected = "\(error)"
                }
                #expect(problem.map { "\($0)" } == expected, "chunk \(i)")
                if expected == nil { #expect(Data(jobs[i].buffer.bytes) == Data(inLine.bytes), "chunk \(i)") }
                if i != 4 { #expect(expected == nil && Data(inLine.bytes) == pages[i], "chunk \(i)") }
            }
            #expect(inflater.queuedCount == 0)
        }
    }
}
