import CTraceFS

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

/// A tracefs instance of our own (instances/foliotrace-PID): a ring buffer and event
/// switches apart from the top-level buffer, which a capture never touches. Instances left
/// by a process that died are removed by `removeStale()` before the next capture.
public final class TraceFSInstance {
    static let prefix = "foliotrace-"

    public let name: String
    /// The tracefs mount point ("/sys/kernel/tracing").
    public let tracingDirectory: String
    private var instance: OpaquePointer?

    /// Creates `foliotrace-<our pid>`.
    /// - Throws: `CaptureError` when tracefs is not there, we are not root, or the kernel
    ///   refuses the instance.
    public init() throws(CaptureError) {
        tracingDirectory = try Self.usableTracefs()
        name = Self.prefix + String(getpid())
        Self.removeStale()
        guard let created = tracefs_instance_create(name) else {
            throw CaptureError("cannot create tracefs instance \(name): \(String(cString: strerror(errno)))")
        }
        instance = created
    }

    deinit { destroy() }

    /// The tracefs mount point, once we know we may trace there: root, and tracefs mounted
    /// (libtracefs mounts it when it can) with instances.
    /// - Throws: `CaptureError` saying which of those is missing and what to do.
    public static func usableTracefs() throws(CaptureError) -> String {
        guard geteuid() == 0 else { throw .notRoot }
        var mount: UnsafePointer<CChar>?
        guard tracefs_tracing_dir_is_mounted(true, &mount) >= 0, let dir = tracefs_tracing_dir() else {
            throw .notMounted("no tracefs mount found and mounting failed")
        }
        let tracing = String(cString: dir)
        guard FileManager.default.fileExists(atPath: tracing + "/instances") else {
            throw .notMounted("\(tracing) has no instances directory")
        }
        return tracing
    }

    var pointer: OpaquePointer? { instance }

    /// The path of one of the instance's files (`per_cpu/cpu0/stats`).
    func path(_ file: String) -> String { "\(tracingDirectory)/instances/\(name)/\(file)" }

    /// Turns everything off and removes the instance (idempotent).
    public func destroy() {
        guard let instance else { return }
        _ = tracefs_instance_file_write(instance, "tracing_on", "0")
        _ = tracefs_instance_file_write(instance, "events/enable", "0")
        tracefs_instance_destroy(instance)
        tracefs_instance_free(instance)
        self.instance = nil
    }

    /// Whether the kernel has `system:event` (and so a format for it).
    public func hasEvent(system: String, event: String) -> Bool {
        FileManager.default.fileExists(atPath: "\(tracingDirectory)/events/\(system)/\(event)/format")
    }

    /// Enables one event in this instance; false when the kernel refuses.
    public func enable(system: String, event: String) -> Bool {
        tracefs_event_enable(instance, system, event) == 0
    }

    /// Enables each of `specs` ("system:event", or "system:*" for all of a system's events)
    /// that this kernel has; returns what was enabled and what was not there or refused.
    public func enable(_ specs: [String]) -> (enabled: [(system: String, event: String)], missing: [String]) {
        var enabled: [(system: String, event: String)] = []
        var missing: [String] = []
        for spec in specs {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                missing.append(spec)
                continue
            }
            let names = parts[1] == "*" ? events(of: parts[0]) : [parts[1]]
            if names.isEmpty { missing.append(spec) }
            for name in names where !enabled.contains(where: { $0 == (parts[0], name) }) {
                if hasEvent(system: parts[0], event: name), enable(system: parts[0], event: name) {
                    enabled.append((parts[0], name))
                } else {
                    missing.append("\(parts[0]):\(name)")
                }
            }
        }
        return (enabled, missing)
    }

    /// The events of `system` on this kernel.
    func events(of system: String) -> [String] {
        let dir = "\(tracingDirectory)/events/\(system)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { FileManager.default.fileExists(atPath: "\(dir)/\($0)/format") }.sorted()
    }

    /// Per-CPU buffer size in KiB.
    public func setBufferSize(kib: Int) throws(CaptureError) {
        guard tracefs_instance_file_write(instance, "buffer_size_kb", "\(kib)") > 0 else {
            throw CaptureError("cannot set the buffer size to \(kib) KiB: \(String(cString: strerror(errno)))")
        }
    }

    public func write(_ file: String, _ value: String) {
        _ = tracefs_instance_file_write(instance, file, value)
    }

    public func read(_ file: String) -> String? {
        guard let text = tracefs_instance_file_read(instance, file, nil) else { return nil }
        defer { free(text) }
        return String(cString: text)
    }

    /// Whether an instance of ours is still in tracefs (tests check teardown with this).
    public static func exists(_ name: String) -> Bool { tracefs_instance_exists(name) }

    /// Names of our instances now in tracefs.
    public static func ours() -> [String] {
        // A POSIX basic regular expression: no "+".
        guard let list = tracefs_instances("^" + prefix + "[0-9][0-9]*$") else { return [] }
        defer { tracefs_list_free(list) }
        var names: [String] = []
        var i = 0
        while let p = list[i] {
            names.append(String(cString: p))
            i += 1
        }
        return names
    }

    /// Removes instances of ours whose process is gone (a capture killed with SIGKILL, or
    /// a crash): the next capture cleans up after the last.
    @discardableResult
    public static func removeStale() -> [String] {
        var removed: [String] = []
        for name in ours() {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            guard let stale = tracefs_instance_alloc(nil, name) else { continue }
            _ = tracefs_instance_file_write(stale, "tracing_on", "0")
            _ = tracefs_instance_file_write(stale, "events/enable", "0")
            if tracefs_instance_destroy(stale) == 0 { removed.append(name) }
            tracefs_instance_free(stale)
        }
        return removed
    }
}
