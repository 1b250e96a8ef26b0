import FolioTraceKit
import Foundation
import TraceCmdLoop

/// `make bench`: decode throughput of foliotrace against libtracecmd and trace-cmd report, and
/// on perf.data files against `perf script`.
///
/// Each contender reads the same trace files the same number of times, opening them each
/// time, until at least `minimumRecords` records have gone by; the best of three runs counts.
/// Opening (format parsing) and iterating are timed apart: the iteration rate is the
/// decoder's throughput, the end-to-end rate what a user waits for on these small files.
/// foliotrace decodes every record into an `MMEvent`; the C loop iterates with
/// `tracecmd_iterate_events` and reads each record's event type.
let minimumRecords = 2_000_000
let onlyFoliotrace = CommandLine.arguments.contains("--only-foliotrace")  // for profilers
let engineMemory = CommandLine.arguments.firstIndex(of: "--engine-memory").map { Int(CommandLine.arguments[$0 + 1])! }
/// The release `foliotrace` binary and the C counter, for the whole-process ratios.
let foliotraceBinary = CommandLine.arguments.firstIndex(of: "--foliotrace").map { CommandLine.arguments[$0 + 1] }
let counterBinary = CommandLine.arguments.firstIndex(of: "--tracecmd-count").map { CommandLine.arguments[$0 + 1] }
let arguments = CommandLine.arguments.dropFirst().filter { a in
    !a.hasPrefix("--") && Int(a) == nil && a != foliotraceBinary && a != counterBinary
}
/// trace.dat files, measured against libtracecmd and trace-cmd report.
let files = arguments.filter { !$0.hasSuffix(".perf.data") }
/// perf.data files, measured against `perf script`.
let perfFiles = arguments.filter { $0.hasSuffix(".perf.data") }
guard !files.isEmpty || !perfFiles.isEmpty else {
    print("usage: decode-bench TRACE.dat... [FILE.perf.data...]")
    exit(2)
}

struct Pass {
    var records = 0
    var open = 0.0
    var iterate = 0.0
    static func + (a: Pass, b: Pass) -> Pass {
        Pass(records: a.records + b.records, open: a.open + b.open, iterate: a.iterate + b.iterate)
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func foliotracePass(_ path: String) throws -> Pass {
    let clock = ContinuousClock()
    let t0 = clock.now
    let file = try TraceFile(path: path)
    let decoder = try EventDecoder(catalog: try EventCatalog(file: file), path: path)
    var stream = try file.mergedRecords()
    return try decodeAll(&stream, decoder, opened: clock.now - t0)
}

/// The timed loop both formats share: every record read and decoded, a checksum kept so that
/// the work stays observable.
func decodeAll<S: RecordStream>(_ stream: inout S, _ decoder: EventDecoder, opened: Duration) throws -> Pass {
    let clock = ContinuousClock()
    let t1 = clock.now
    var records = 0
    var checksum: UInt64 = 0
    while let r = try stream.next() {
        records += 1
        switch decoder.decode(r) {
        case .pageAlloc(let a): checksum &+= a.pfn ?? 0
        case .pageFree(let f): checksum &+= f.pfn
        case .lruInsertion(let l): checksum &+= l.pfn
        case .memcgStat(let m): checksum &+= UInt64(bitPattern: m.value)
        case .other: checksum &+= 1
        default: checksum &+= 2
        }
    }
    let t2 = clock.now
    if checksum == 42 { print("") }  // keep the work observable
    return Pass(records: records, open: seconds(opened), iterate: seconds(t2 - t1))
}

/// What `analyze` does before rendering: `TraceAnalysis` (reader, decoder, lifecycle engine,
/// detectors, timeline samples, coverage). "open" is opening the file.
func analyzePass(_ path: String) throws -> Pass {
    let clock = ContinuousClock()
    let t0 = clock.now
    let source = try TraceSource(path: path)
    let t1 = clock.now
    let analysis = try TraceAnalysis(source: source)
    let t2 = clock.now
    return Pass(records: Int(analysis.report.summary.records), open: seconds(t1 - t0), iterate: seconds(t2 - t1))
}

/// The engine over one capture replayed `factor` times back to back (timestamps shifted
/// past the previous copy, as if concatenated): heap in use and peak RSS at the end, and
/// bytes per live folio. Run in its own process per factor so peaks do not mix.
func engineMemory(factor: Int, path: String) throws {
    let file = try TraceFile(path: path)
    let catalog = try EventCatalog(file: file)
    let decoder = try EventDecoder(catalog: catalog, path: path)
    let heapBefore = bench_heap_bytes()
    var engine = LifecycleEngine(catalog: catalog, savedCommands: file.savedCommands())
    var shift: UInt64 = 0
    var records = 0
    for _ in 0..<factor {
        var stream = try file.mergedRecords()
        var last: UInt64 = 0
        while var r = try stream.next() {
            r.timestamp += shift
            last = r.timestamp
            records += 1
            engine.handle(r, decoder.decode(r))
        }
        shift = last + 1
    }
    let heap = bench_heap_bytes() - heapBefore
    let live = engine.liveFolioCount
    print(
        String(
            format:
                "engine memory %2dx: %9d records, %7d live folios, heap %7.2f MiB (%4.0f bytes/live folio), peak RSS %6.1f MiB",
            factor,
            records,
            live,
            Double(heap) / 1_048_576,
            Double(heap) / Double(max(live, 1)),
            Double(bench_max_rss_kib()) / 1024
        )
    )
}

if let factor = engineMemory {
    do {
        try engineMemory(factor: factor, path: files[0])
        exit(0)
    } catch {
        print("decode-bench: \(error)")
        exit(1)
    }
}

/// perf.data: the same reader + decoder pass through `PerfRecordStream` (round-ordered,
/// zstd-decompressed where `perf record -z` compressed).
func perfPass(_ path: String) throws -> Pass {
    let clock = ContinuousClock()
    let t0 = clock.now
    let file = try PerfFile(path: path)
    let decoder = try EventDecoder(catalog: try EventCatalog(tracing: file.tracing, path: path), path: path)
    var stream = file.orderedRecords()
    return try decodeAll(&stream, decoder, opened: clock.now - t0)
}

/// Runs `binary` with `args`, output to /dev/null, and waits for it: posix_spawn and waitpid,
/// so what is timed is the program. Foundation's `Process.waitUntilExit()` polls its run loop
/// every 50 ms on Linux: a 10 ms run measured as up to 60, which pulled every whole-process
/// ratio toward 1 (events 1.32x the C counter measured that way on an idle machine, 3.6x
/// with waitpid).
/// - Returns: the exit status (128 + the signal for a killed child).
func spawnAndWait(_ binary: String, _ args: [String]) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, binary, &actions, nil, argv, environ)
    guard rc == 0 else { throw BenchError("cannot run \(binary): \(String(cString: strerror(rc)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw BenchError("waitpid \(binary): \(String(cString: strerror(errno)))") }
    }
    let signal = status & 0x7f
    return signal == 0 ? (status >> 8) & 0xff : 128 + signal
}

/// `perf script` on each perf.data, output discarded: perf's own reader and formatter.
/// - Returns: seconds for one pass over `perfFiles`, best of three.
func perfScriptSeconds() throws -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let clock = ContinuousClock()
        let start = clock.now
        for f in perfFiles { _ = try spawnAndWait("/usr/bin/perf", ["script", "-i", f]) }
        best = min(best, seconds(clock.now - start))
    }
    return best
}

/// The perf.data section of `make bench`.
func benchPerf() throws {
    var perPass = 0
    for f in perfFiles { perPass += try perfPass(f).records }
    let passes = max(1, (minimumRecords + perPass - 1) / perPass)
    print("perf.data: \(perfFiles.count) file(s), \(perPass) samples a pass, \(passes) passes, best of 3")
    let ours = try measure(over: perfFiles, passes: passes) { try perfPass($0) }
    let r = Double(ours.records)
    func m(_ x: Double) -> String { String(format: "%7.2f M/s", x / 1e6) }
    print("                                   iterate      end to end (open + iterate)")
    print("foliotrace (perf.data + MMEvent) \(m(r / ours.iterate))    \(m(r / (ours.open + ours.iterate)))")
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
        print("perf script: not installed (Debian package linux-perf)")
        return
    }
    let scriptRate = Double(perPass) / (try perfScriptSeconds())
    print("perf script > /dev/null                        \(m(scriptRate))")
    print(
        String(format: "ratio foliotrace / perf script: %.1fx end to end", r / (ours.open + ours.iterate) / scriptRate)
    )
}

func libtracecmdPass(_ path: String, instance: Bool) -> Pass {
    var checksum: UInt64 = 0
    var open = 0.0
    var iterate = 0.0
    let n = tracecmd_loop(path, instance ? 1 : 0, &checksum, &open, &iterate)
    return Pass(records: Int(n), open: open, iterate: iterate)
}

/// Runs `pass` over every file `passes` times; the best of three runs, by iteration time.
func measure(over list: [String] = files, passes: Int, _ pass: (String) throws -> Pass) rethrows -> Pass {
    var best: Pass?
    for _ in 0..<3 {
        var total = Pass()
        for _ in 0..<passes { for f in list { total = total + (try pass(f)) } }
        if best == nil || total.iterate < best!.iterate { best = total }
    }
    return best!
}

/// Whole-process rates, exec to exit: `foliotrace events` and `foliotrace analyze` (JSON to
/// /dev/null) against the C counter over libtracecmd, each run once per file in a round, the
/// three one after the other, `wholeProcessRounds` rounds. A ratio is the median of the
/// rounds' own ratios: on these shared machines a program's time drifts by tens of percent
/// within minutes (the C counter from 2.5 to 4.4 s on the scale capture in one quarter hour,
/// docs/performance.md), and the best of each program's own block of runs compared times from
/// different minutes. The issue-19 goals are checked here: a ratio below its goal is printed
/// as missed and makes the run exit 1, so a regression shows.
func wholeProcess(foliotrace: String, counter: String, records: Int, instances: [String: Bool]) throws {
    func run(_ binary: String, _ args: [String]) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let status = try spawnAndWait(binary, args)
        guard status == 0 || (status == 1 && args.first == "analyze") else {
            throw BenchError("\(binary) \(args.joined(separator: " ")) exited \(status)")
        }
        return seconds(clock.now - start)
    }
    func round(_ args: (String) -> (String, [String])) throws -> Double {
        try files.reduce(0) { t, f in
            let (b, a) = args(f)
            return t + (try run(b, a))
        }
    }
    var c: [Double] = []
    var events: [Double] = []
    var analyze: [Double] = []
    for _ in 0..<wholeProcessRounds {
        c.append(try round { f in (counter, instances[f]! ? [f, "instance"] : [f]) })
        events.append(try round { f in (foliotrace, ["events", f]) })
        analyze.append(try round { f in (foliotrace, ["analyze", "--format", "json", f]) })
    }
    let r = Double(records)
    print(
        "whole process (exec to exit), \(files.count) file(s), \(records) records, \(wholeProcessRounds) rounds;"
            + " rates at each program's median time, ratios the median of the rounds' own:"
    )
    print(String(format: "  C counter over libtracecmd   %7.2f M/s", r / median(c) / 1e6))
    /// One program's line, its goal checked: `times` are its rounds', beside the counter's.
    func report(_ name: String, _ times: [Double], goal: Double) {
        let ratios = zip(c, times).map { $0 / $1 }
        let ratio = median(ratios)
        let label = ("foliotrace " + name).padding(toLength: 28, withPad: " ", startingAt: 0)
        print(
            "  \(label) "
                + String(
                    format: "%7.2f M/s  %.2fx (goal >= %.0fx; rounds %.2f-%.2fx)",
                    r / median(times) / 1e6,
                    ratio,
                    goal,
                    ratios.min()!,
                    ratios.max()!
                )
        )
        if ratio < goal { goalsMissed.append(name + String(format: " %.2fx the C loop, goal %.0fx", ratio, goal)) }
    }
    report("events", events, goal: 4)
    report("analyze", analyze, goal: 2)
}

/// Rounds of the whole-process comparison (odd, so that the median is one round's).
let wholeProcessRounds = 5

/// The middle value (the mean of the two middle ones for an even count).
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Goals the run missed; printed at the end, and the exit status.
nonisolated(unsafe) var goalsMissed: [String] = []

if files.isEmpty {
    do {
        try benchPerf()
        exit(0)
    } catch {
        print("decode-bench: \(error)")
        exit(1)
    }
}

do {
    var perPass = 0
    var instances: [String: Bool] = [:]
    for f in files {
        instances[f] = !(try TraceFile(path: f)).primaryBuffer.name.isEmpty
        perPass += try foliotracePass(f).records
    }
    let passes = max(1, (minimumRecords + perPass - 1) / perPass)
    print("decode-bench: \(files.count) file(s), \(perPass) records a pass, \(passes) passes, best of 3")

    let ours = try measure(passes: passes) { try foliotracePass($0) }
    if onlyFoliotrace {
        print(String(format: "foliotrace: %.2f M/s iterate", Double(ours.records) / ours.iterate / 1e6))
        exit(0)
    }
    let analyze = try measure(passes: passes) { try analyzePass($0) }
    let theirs = measure(passes: passes) { libtracecmdPass($0, instance: instances[$0]!) }
    guard ours.records == theirs.records else {
        print("decode-bench: record counts differ: foliotrace \(ours.records), libtracecmd \(theirs.records)")
        exit(1)
    }

    // trace-cmd report: one pass over the files, text discarded.
    let clock = ContinuousClock()
    let start = clock.now
    for f in files { _ = try spawnAndWait("/usr/bin/trace-cmd", ["report", f]) }
    let reportRate = Double(perPass) / seconds(clock.now - start)

    func m(_ x: Double) -> String { String(format: "%7.2f M/s", x / 1e6) }
    let r = Double(ours.records)
    print("                                   iterate      end to end (open + iterate)")
    print("foliotrace (reader + MMEvent)    \(m(r / ours.iterate))    \(m(r / (ours.open + ours.iterate)))")
    print("C loop, tracecmd_iterate_events  \(m(r / theirs.iterate))    \(m(r / (theirs.open + theirs.iterate)))")
    print("foliotrace analyze (TraceAnalysis)\(m(r / analyze.iterate))    \(m(r / (analyze.open + analyze.iterate)))")
    print("trace-cmd report > /dev/null                   \(m(reportRate))")
    print(
        String(
            format: "ratio foliotrace / libtracecmd loop: %.2fx iterate, %.2fx end to end (in process; "
                + "DESIGN.md's goals are the whole-process ratios below)",
            theirs.iterate / ours.iterate,
            (theirs.open + theirs.iterate) / (ours.open + ours.iterate)
        )
    )
    print(
        String(
            format: "ratio foliotrace / trace-cmd report: %.1fx end to end",
            r / (ours.open + ours.iterate) / reportRate
        )
    )

    if let foliotraceBinary, let counterBinary {
        try wholeProcess(foliotrace: foliotraceBinary, counter: counterBinary, records: perPass, instances: instances)
    }

    // Engine memory over the largest capture replayed 1x, 4x, 16x, each in its own process.
    func size(_ f: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: f)[.size] as? Int) ?? 0 }
    let largest = files.max { size($0) < size($1) }!
    print("engine memory on \(largest) (goal: flat as the input grows, under 200 bytes a live folio):")
    for factor in [1, 4, 16] {
        fflush(nil)  // all streams: the children print after what is already written
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["--engine-memory", "\(factor)", largest]
        try p.run()
        p.waitUntilExit()
    }
    if !perfFiles.isEmpty {
        print("")
        try benchPerf()
    }
    for g in goalsMissed { print("goal missed: \(g)") }
    exit(goalsMissed.isEmpty ? 0 : 1)
} catch {
    print("decode-bench: \(error)")
    exit(1)
}
