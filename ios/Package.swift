// swift-tools-version:5.9
// The Tandem Swift package: the Rust core as an XCFramework (built by
// scripts/build-xcframework.sh on macOS) and a thin Swift API over its UniFFI bindings.
import PackageDescription

let package = Package(
    name: "Tandem",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "Tandem", targets: ["Tandem"]),
    ],
    targets: [
        // libtandem_ffi.a for devices and simulators, with the C header and module map of the
        // `TandemFFI` module the generated bindings import.
        .binaryTarget(name: "TandemFFI", path: "TandemFFI.xcframework"),
        // The Swift API (Sources/Tandem/*.swift) and the generated bindings
        // (Sources/Tandem/Generated/*.swift: one file per Rust crate, written by the build
        // script, `cargo xtask ios`).
        .target(
            name: "Tandem",
            dependencies: ["TandemFFI"],
            path: "Sources/Tandem"
        ),
        .testTarget(
            name: "TandemTests",
            dependencies: ["Tandem"],
            path: "Tests/TandemTests"
        ),
    ]
)
