// swift-tools-version:6.0
import PackageDescription

/// Throughput benchmarks, kept out of the main package so CI never builds them.
///
/// `decode-bench` measures foliotrace's reader+decoder, a C loop over libtracecmd's
/// `tracecmd_iterate_events`, and `trace-cmd report`, on the same files in the same run.
let package = Package(
    name: "foliotrace-benchmarks",
    dependencies: [.package(name: "foliotrace", path: "../")],
    targets: [
        .systemLibrary(
            name: "CTraceCmdBench",
            pkgConfig: "libtracecmd",
            providers: [.apt(["libtracecmd-dev"])]
        ),
        .target(name: "TraceCmdLoop", dependencies: ["CTraceCmdBench"]),
        .executableTarget(name: "tracecmd-count", dependencies: ["TraceCmdLoop"]),
        .executableTarget(
            name: "decode-bench",
            dependencies: [.product(name: "FolioTraceKit", package: "foliotrace"), "TraceCmdLoop"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
    ]
)
