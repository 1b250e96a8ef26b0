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

/// `foliotrace record -o FILE [--preset ...] (-- CMD | --duration T)`: a capture that needs no
/// function tracing (where `trace-cmd record` aborts), in its own tracefs instance.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Capture the memory-management events into a trace.dat (version 6) through tracefs.",
        discussion: """
            Creates its own tracefs instance (never the top-level buffer), enables the events of \
            the preset, runs CMD (or waits --duration seconds, or until Ctrl-C), and writes a \
            trace.dat that trace-cmd report, KernelShark and foliotrace read. Ctrl-C, SIGTERM and \
            the end of CMD remove the instance; an instance left by a killed run is removed by the \
            next one. Events this kernel lacks are reported and skipped. Needs root.
            """
    )

    @Option(
        name: .shortAndLong,
        help:
            "The trace.dat to write (under a temporary name beside it, renamed once complete; not a device, directory or FIFO)."
    )
    var output: String

    @Option(help: "Event set: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: Preset = .mm

    @Option(name: .short, help: "An extra event, system:name or system:* (repeatable).")
    var event: [String] = []

    @Option(
        help: "Kprobes the rules need (rmap, charge, mlock, reclaim, migration): auto (where allowed) or none."
    )
    var probes: ProbeMode = .auto

    @Option(help: "Per-CPU ring buffer size in KiB (the kernel's default when not given).")
    var bufferKb: Int?

    @Option(help: "trace.dat file version: 6, or 7 (zstd-compressed; trace-cmd 3 and KernelShark 2 read it).")
    var fileVersion = 6

    @Option(help: "Seconds to record when no command is given.")
    var duration: Double?

    @Argument(parsing: .postTerminator, help: "The command to trace (after --).")
    var command: [String] = []

    enum ProbeMode: String, ExpressibleByArgument { case auto, none }

    func validate() throws {
        if command.isEmpty, duration == nil {
            throw ValidationError("give a command after -- or --duration SECONDS (or both)")
        }
        if let d = duration, !(d > 0) { throw ValidationError("--duration must be a positive number of seconds") }
        if fileVersion != 6, fileVersion != 7 { throw ValidationError("--file-version must be 6 or 7") }
    }

    func run() throws {
        let warn = { (s: String) in Streams.writeStandardError("foliotrace: \(s)\n") }
        // Not root, or no tracefs: say that alone, before anything else is tried.
        do { _ = try TraceFSInstance.usableTracefs() } catch {
            Streams.error(error)
            throw ExitCode(2)
        }
        // A target that cannot be written is known before the capture, not after it.
        let file = try reportingErrors { try OutputFile(path: output) }
        var extra: [String] = []
        let probes = probes == .auto && geteuid() == 0 ? CaptureKprobes.forRunningKernel(notes: warn) : nil
        defer { probes?.remove() }
        if let probes, !probes.defined.isEmpty { extra.append("\(probes.group):*") }
        let recorder: Recorder
        do {
            recorder = try Recorder(
                output: file.temporaryPath,
                events: preset.events + event + extra,
                bufferKiB: bufferKb
            )
        } catch {
            Streams.error(error)
            throw ExitCode(2)
        }
        recorder.fileVersion = fileVersion
        if !recorder.missingEvents.isEmpty {
            warn("not on this kernel, skipped: \(recorder.missingEvents.joined(separator: ", "))")
            let disabled = AnalysisRequirement.disabled(byMissing: Set(recorder.missingEvents))
            if !disabled.isEmpty { warn("without them these analyses cannot run: \(disabled.joined(separator: ", "))") }
        }
        StopSignals.install()
        defer { StopSignals.restore() }
        let deadline = duration.map { Date().addingTimeInterval($0) }
        var child = Child()
        let result: Recorder.Result
        do {
            result = try recorder.record(
                started: { if !command.isEmpty { try child.spawn(command) } },
                stop: {
                    if StopSignals.requested { return true }
                    if let deadline, Date() >= deadline { return true }
                    return !command.isEmpty && child.exited
                }
            )
        } catch {
            Streams.error(error)
            child.end()
            throw ExitCode(2)
        }
        child.end()
        try reportingErrors { try file.commit() }
        let pages = result.pagesPerCPU.reduce(0, +)
        let lost = result.lostPerCPU.reduce(0, +)
        warn(
            "wrote \(output): \(result.enabled.count) events enabled, \(pages) pages"
                + (lost > 0 ? ", \(lost) events lost (raise --buffer-kb)" : ", nothing lost")
        )
        if let status = child.status, status != 0, !StopSignals.requested { throw ExitCode(status) }
    }
}

extension Preset: ExpressibleByArgument {}

/// The traced command, spawned with posix_spawnp and reaped with waitpid: no run loop and no
/// helper threads (Foundation's Process needs a socket pair and a run loop for its exit
/// notification, which a minimal system such as a test guest's initramfs may not give it).
struct Child {
    private var pid: pid_t = 0
    /// The exit status once reaped (128 + signal for a signal).
    private(set) var status: Int32?

    mutating func spawn(_ command: [String]) throws {
        let argv = command.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let rc = posix_spawnp(&pid, command[0], nil, nil, argv, environ)
        guard rc == 0 else { throw CaptureError("\(command[0]): cannot run it: \(String(cString: strerror(rc)))") }
    }

    /// Whether it has exited (reaping it if so).
    var exited: Bool {
        mutating get {
            guard pid > 0, status == nil else { return status != nil }
            var s: Int32 = 0
            guard waitpid(pid, &s, WNOHANG) == pid else { return false }
            status = s & 0x7f == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
            return true
        }
    }

    /// Ends a command still running when the capture stops (duration over, Ctrl-C).
    mutating func end() {
        guard pid > 0, !exited else { return }
        kill(pid, SIGTERM)
        var s: Int32 = 0
        waitpid(pid, &s, 0)
        status = 128 + SIGTERM
    }
}
