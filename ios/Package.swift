// swift-tools-version:5.9
// The Tandem Swift package: the Rust core as an XCFramework (built by
// scripts/build-xcframework.sh on macOS) and a thin Swift API over its UniFFI bindings.
// Swift 5.9 tools, Xcode 16 or newer: the generated records are `Sendable` only with a Swift 6
// compiler (`#if compiler(>=6)`), and `Tandem` is `Sendable`; the code is Swift 5 language mode.
// A release manifest with a remote XCFramework (url + checksum) is written by
// scripts/release-manifest.sh.
import PackageDescription

let package = Package(
    // The module is `TandemKit` (its main class is `Tandem`; a module and a type of the same name
    // cannot be told apart in qualified names).
    name: "TandemKit",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "TandemKit", targets: ["TandemKit"]),
    ],
    targets: [
        // libtandem_ffi.a for devices and simulators, with the C header and module map of the
        // `TandemFFI` module the generated bindings import.
        .binaryTarget(name: "TandemFFI", path: "TandemFFI.xcframework"),
        // The Swift API (Sources/Tandem/*.swift) and the generated bindings
        // (Sources/Tandem/Generated/*.swift: one file per Rust crate, written by the build
        // script, `cargo xtask ios`).
        .target(
            // The module is `TandemKit` (its main class is `Tandem`; a module and a type of the same name
    // cannot be told apart in qualified names).
    name: "TandemKit",
            dependencies: ["TandemFFI"],
            path: "Sources/Tandem"
        ),
        .testTarget(
            name: "TandemKitTests",
            dependencies: ["TandemKit"],
            path: "Tests/TandemTests"
        ),
    ]
)
