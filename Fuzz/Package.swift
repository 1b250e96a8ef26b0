// swift-tools-version:6.0
import PackageDescription

/// libFuzzer targets for the readers, kept out of the main package so CI's `make test` never
/// builds them (`make fuzz` does, with `--sanitize=fuzzer --sanitize=address`).
///
/// `fuzz-tracedat` runs a trace.dat, `fuzz-perfdata` a perf.data, through what `events` and
/// `analyze` do: the reader, the catalog, the decoder, the inventory, the lifecycle engine
/// with the detectors, and the reports. Each has no `main`: libFuzzer's is linked in, hence
/// `-parse-as-library`.
let package = Package(
    name: "foliotrace-fuzz",
    dependencies: [.package(name: "foliotrace", path: "../")],
    targets: [
        .target(
            name: "FuzzHarness",
            dependencies: [.product(name: "FolioTraceKit", package: "foliotrace")]
        ),
        .executableTarget(
            name: "fuzz-tracedat",
            dependencies: ["FuzzHarness"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "fuzz-perfdata",
            dependencies: ["FuzzHarness"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
