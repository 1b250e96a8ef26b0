import ArgumentParser
import FolioTraceKit

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `foliotrace tail`: live analysis of this machine, on the same engine and detectors.
struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Analyze this machine live: a rolling summary and findings as they are detected.",
        discussion: """
            On a terminal the summary refreshes in place and findings print above it; otherwise \
            (or with --format json) it writes JSON lines: {"type": "finding", ...} as detected and \
            {"type": "summary", ...} every interval. Lost events are counted as the kernel counts \
            them and shown. A thread a CPU reads the ring buffers; what the analysis has not reached \
            waits in memory (--spool-kb a CPU) and then on disk, never in the kernel's buffer. With \
            -o it also writes every page it read into a trace.dat, as record does, so the trace \
            behind a finding is kept. Ctrl-C or SIGTERM ends it and removes its \
            tracefs instance. Needs root.
            """
    )

    @Option(help: "Event set: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: Preset = .all

    @Option(name: .short, help: "An extra event, system:name or system:* (repeatable).")
    var event: [String] = []

    @Option(help: "Only this memcg: its cgroup directory (/sys/fs/cgroup/memory/A) or its path (/A).")
    var memcg: String?

    @Option(name: .shortAndLong, help: "text (a terminal's rolling summary) or json (JSON lines).")
    var format: OutputFormat?

    @Option(help: "Stop after this many seconds.")
    var duration: Double?

    @Option(help: "Seconds between summaries.")
    var interval: Double = 1

    @Option(help: "Per-CPU ring buffer size in KiB (the kernel's default when not given).")
    var bufferKb: Int?

    @Option(
        help:
            "Memory per CPU, in KiB, for pages read and not yet analyzed; beyond it they wait in an unlinked file in $TMPDIR (or /var/tmp)."
    )
    var spoolKb: Int = LiveSession.defaultSpoolKiB

    @Option(
        name: .shortAndLong,
        help:
            "Also write what tail read to this trace.dat (version 6; under a temporary name beside it, renamed once complete; not a device, directory or FIFO)."
    )
    var output: String?

    func validate() throws {
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if !(interval >= 0.1) { throw ValidationError("--interval must be at least 0.1 seconds") }
        if spoolKb < 0 { throw ValidationError("--spool-kb must be 0 or more") }
        if output == "-" { throw ValidationError("-o -: standard output carries tail's summaries; give a file") }
    }

    func run() throws {
        var memcgID: UInt64?
        if let memcg {
            guard let found = CgroupPaths.resolve(memcg) else {
                Streams.error(
                    path: memcg,
                    "not a memory cgroup (give its directory, e.g. /sys/fs/cgroup/memory/A, or its path in the hierarchy, e.g. /A)"
                )
                throw ExitCode(2)
            }
            memcgID = found.id
        }
        // Not root, or no tracefs: say that alone, before a file is created.
        do { _ = try TraceFSInstance.usableTracefs() } catch {
            Streams.error(error)
            throw ExitCode(2)
        }
        // A target that cannot be written is known before the capture, not after it.
        let file = try output.map { path in try reportingErrors { try OutputFile(path: path) } }
        let session: LiveSession
        do {
            session = try LiveSession(
                events: preset.events + event,
                bufferKiB: bufferKb,
                recordingTo: file?.temporaryPath,
                spoolKiB: spoolKb
            )
        } catch {
            Streams.error(error)
            throw ExitCode(2)
        }
        defer { session.close() }
        // The analysis runs on this thread, the readers on theirs, made by the session at this
        // thread's priority. At nice 10 this thread gives the CPU to them whenever both want it
        // (a storm on a busy machine): a reader kept waiting loses events, the analysis only
        // falls behind, which the spools absorb. (Linux keeps a nice value per thread, and who 0 is
        // the calling thread alone.)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        if !session.missing.isEmpty {
            var text = "foliotrace: not on this kernel, skipped: \(session.missing.joined(separator: ", "))\n"
            let disabled = AnalysisRequirement.disabled(byMissing: Set(session.missing))
            if !disabled.isEmpty {
                text += "foliotrace: without them these analyses cannot run: \(disabled.joined(separator: ", "))\n"
            }
            Streams.writeStandardError(text)
        }
        StopSignals.install()
        defer { StopSignals.restore() }
        let terminal = (format ?? (isatty(STDOUT_FILENO) == 1 ? .text : .json)) == .text
        var view = LiveView(terminal: terminal, memcg: memcgID)
        let start = Date()
        var nextSummary = start.addingTimeInterval(interval)
        while !StopSignals.requested {
            if let duration, Date().timeIntervalSince(start) >= duration { break }
            let handled: Int
            do {
                // Back in time for the next summary (and the end), however slow the analysis.
                let end = duration.map { start.addingTimeInterval($0) }
                handled = try session.poll(until: end.map { min($0, nextSummary) } ?? nextSummary)
            } catch {
                Streams.error(error)
                throw ExitCode(2)
            }
            for f in session.newFindings() { write(view.finding(f)) }
            if Date() >= nextSummary {
                write(view.summary(session, elapsed: Date().timeIntervalSince(start)))
                nextSummary = nextSummary.addingTimeInterval(interval)
                // Nobody reads what is printed (a full disk, a closed stream): stop; main says why.
                if Streams.standardOutputFailed { break }
            }
            // Keep reading while events flow: a pause in a burst is what overflows the buffer.
            if handled == 0 { usleep(5_000) }
        }
        var recordingError: Error?
        do { try session.finish() } catch { recordingError = error }
        for f in session.newFindings() { write(view.finding(f)) }
        write(view.summary(session, elapsed: Date().timeIntervalSince(start), final: true))
        for (cpu, error) in session.spoolRefusals {
            Streams.writeStandardError(
                "foliotrace: CPU \(cpu)'s spool refused pages (\(error)): its reader waited, and what the kernel overwrote meanwhile is counted as lost\n"
            )
        }
        if let file {
            if let recordingError {
                Streams.error(recordingError)
                throw ExitCode(2)
            }
            try reportingErrors { try file.commit() }
            let lost = session.lostEvents
            Streams.writeStandardError(
                "foliotrace: wrote \(file.path): \(session.enabled.count) events enabled, \(session.recordedPages) pages"
                    + (lost > 0 ? ", \(lost) events lost (raise --buffer-kb)" : ", nothing lost") + "\n"
            )
        }
    }

    private func write(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        print(text, terminator: "")
        fflush(nil)
    }
}
