/// What `foliotrace --version` prints: the version, the git commit and the build date.
///
/// `make dist` (and so `make deb` and `make install`) writes `BuildInfo+Stamp.swift` beside
/// this file, which git ignores, and builds with `-DFOLIOTRACE_STAMPED` so that it defines
/// `BuildInfo.current`; any other build (a plain `swift build`) says "dev".
struct BuildInfo {
    var version: String
    var commit: String?
    var date: String?

    /// "0.1.0 (commit 3f57c54ab1c2, built 2026-11-30)", or "dev" for an unstamped build.
    var line: String {
        let details = [commit.map { "commit \($0)" }, date.map { "built \($0)" }].compactMap { $0 }
        return details.isEmpty ? version : "\(version) (\(details.joined(separator: ", ")))"
    }
}

#if !FOLIOTRACE_STAMPED
extension BuildInfo {
    static let current = BuildInfo(version: "dev", commit: nil, date: nil)
}
#endif
