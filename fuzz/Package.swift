// swift-tools-version: 6.2
import PackageDescription

/// libFuzzer target over Slipway's parsers of untrusted input. Not part of the main build
/// (a fuzzer has no `main`): built and run by bench/fuzz with `-sanitize=fuzzer`.
let package = Package(
    name: "slipway-fuzz",
    dependencies: [.package(path: "slipway")],   // a symlink to the repository root, so the identity is "slipway" wherever it is cloned
    targets: [
        .executableTarget(
            name: "SlipwayFuzz",
            dependencies: [.product(name: "SlipwayCore", package: "slipway")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ]
)
