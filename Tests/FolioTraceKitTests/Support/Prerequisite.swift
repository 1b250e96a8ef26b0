import Foundation
import Testing

/// The one way a test says it needs something this machine may lack: a condition trait, so
/// the run lists the test as skipped with the reason, never as passed.
///
/// A tool `make test-deps` installs (`executable`) is not optional under CI (`CI` set, as
/// `.ci/run` sets it): there the test runs anyway and fails, because a skip would hide a
/// broken setup. What the machine itself decides (root, tracefs, BTF, a cgroup hierarchy) is
/// a `condition`, skipped with its reason everywhere.
enum Prerequisite {
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    static func executable(_ path: String, package: String) -> ConditionTrait {
        .enabled(
            if: inCI || FileManager.default.isExecutableFile(atPath: path),
            Comment(rawValue: "\(path) is not installed (apt-get install \(package))")
        )
    }

    /// A Python module the tests use from Debian's python3 (python3-jsonschema).
    static func pythonModule(_ module: String, package: String) -> ConditionTrait {
        .enabled(
            if: inCI || pythonHas(module),
            Comment(rawValue: "python3 has no module \(module) (apt-get install \(package))")
        )
    }

    /// Skips with the reason when `unavailable` gives one ("not root").
    static func condition(_ unavailable: String?) -> ConditionTrait {
        .enabled(if: unavailable == nil, Comment(rawValue: unavailable ?? ""))
    }

    private static func pythonHas(_ module: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import \(module)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }
}
