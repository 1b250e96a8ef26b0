import ArgumentParser
import FolioTraceKit
import Foundation

/// `foliotrace record -o FILE [--preset ...] (-- CMD | --duration T)`: a capture that needs no
/// function tracing (where `trace-cmd record` aborts), in its own tracefs instance.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture the memory-management events into a trace.dat (version 6) through tracefs.",
        discussion: """
            Creates its own tracefs instance (never the top-level buffer), enables the events of \
            the preset, runs CMD (or waits --duration seconds, or until Ctrl-C), and writes a \
            trace.dat that trace-cmd report, KernelShark and foliotrace read. Ctrl-C, SIGTERM and \
            the end of CMD remove the instance; an instance left by a killed run is removed by the \
            next one. Events this kernel lacks are reported and skipped. Needs root.
            """
    )

    @Option(name: .shortAndLong, help: "The trace.dat to write.")
    var output: String

    @Option(help: "Event set: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: Preset = .mm

    @Option(name: .short, help: "An extra event, system:name or system:* (repeatable).")
    var event: [String] = []

    @Option(help: "Kprobes for rmap and charge functions: auto (where the kernel has kprobe events) or none.")
    var probes: ProbeMode = .auto

    @Option(help: "Per-CPU ring buffer size in KiB (the kernel's default when not given).")
    var bufferKb: Int?

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
    }

    func run() throws {
        let recorder: Recorder
        do {
            recorder = try Recorder(output: output, events: preset.events + event, bufferKiB: bufferKb)
        } catch {
            FileHandle.standardError.write(Data("foliotrace: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let warn = { (s: String) in FileHandle.standardError.write(Data("foliotrace: \(s)\n".utf8)) }
        if !recorder.missingEvents.isEmpty {
            warn("not on this kernel, skipped: \(recorder.missingEvents.joined(separator: ", "))")
            let disabled = AnalysisRequirement.disabled(byMissing: Set(recorder.missingEvents))
            if !disabled.isEmpty { warn("without them these analyses cannot run: \(disabled.joined(separator: ", "))") }
        }
        if probes == .auto, !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/kprobe_events") {
            warn("this kernel has no kprobe events: recording without the rmap and charge probes")
        }
        StopSignals.install()
        defer { StopSignals.restore() }
        let child = Process()
        let deadline = duration.map { Date().addingTimeInterval($0) }
        let result: Recorder.Result
        do {
            result = try recorder.record(
                started: {
                    guard !command.isEmpty else { return }
                    child.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                    child.arguments = command
                    try child.run()
                },
                stop: {
                    if StopSignals.requested { return true }
                    if let deadline, Date() >= deadline { return true }
                    return !command.isEmpty && !child.isRunning
                }
            )
        } catch {
            warn("\(error)")
            throw ExitCode(2)
        }
        if child.isRunning { child.terminate() }
        let pages = result.pagesPerCPU.reduce(0, +)
        let lost = result.lostPerCPU.reduce(0, +)
        warn(
            "wrote \(output): \(result.enabled.count) events enabled, \(pages) pages"
                + (lost > 0 ? ", \(lost) events lost (raise --buffer-kb)" : ", nothing lost")
        )
        if !command.isEmpty, !child.isRunning, child.terminationStatus != 0, !StopSignals.requested {
            throw ExitCode(child.terminationStatus)
        }
    }
}

extension Preset: ExpressibleByArgument {}
