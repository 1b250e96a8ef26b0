// swift-tools-version:6.0
import PackageDescription

/// foliotrace: folio lifecycles and linux-mm patterns from real kernel traces.
///
/// The C libraries come from Debian (`make deps`); each is one `[system]` module found through
/// pkg-config, so no paths or link flags are written here.
let package = Package(
    name: "foliotrace",
    products: [
        .library(name: "FolioTraceKit", targets: ["FolioTraceKit"]),
        .executable(name: "foliotrace", targets: ["foliotrace"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        .systemLibrary(
            name: "CTraceEvent",
            pkgConfig: "libtraceevent",
            providers: [.apt(["libtraceevent-dev"])]
        ),
        .systemLibrary(name: "CTraceFS", pkgConfig: "libtracefs", providers: [.apt(["libtracefs-dev"])]),
        .systemLibrary(
            name: "CTraceCmd",
            pkgConfig: "libtracecmd",
            providers: [.apt(["libtracecmd-dev"])]
        ),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // __builtin_prefetch and the spin-wait hint, which Swift lacks (the engine's loop asks for
        // folios ahead; the read-ahead hand-over polls before it sleeps).
        .target(name: "CPrefetch"),
        .target(
            name: "FolioTraceKit",
            dependencies: ["CTraceEvent", "CTraceFS", "CZstd", "CZlib", "CSQLite", "CPrefetch"]
        ),
        .executableTarget(
            name: "foliotrace",
            dependencies: [
                "FolioTraceKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "FolioTraceKitTests",
            dependencies: ["FolioTraceKit", "CTraceCmd", "CTraceEvent", "CTraceFS"],
            exclude: ["Report/Golden", "Regressions"]
        ),
    ]
)
