// swift-tools-version: 6.2
import PackageDescription

/// Slipway: a self-hosted CI/CD daemon for AI applications (code + a pre-trained model).
///
/// Arrows point inward: the adapters (Store, Pipeline, Server) depend on SlipwayCore;
/// SlipwayCore depends on nothing but COpenSSL, Foundation and the YAML parser.
/// Only the executables know every target.
let package = Package(
    name: "slipway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "slipwayd", targets: ["slipwayd"]),
        .executable(name: "slipway", targets: ["slipway"]),
        // The pure core, for fuzz/ (libFuzzer) and for tools that read Slipway's config.
        .library(name: "SlipwayCore", targets: ["SlipwayCore"]),
    ],
    dependencies: [
        // No default traits: full Foundation (URL-encoded form dates) and swift-configuration
        // are unused here, and each adds to the daemon's code and memory.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // prctl(2), which Swift cannot call (variadic): the daemon makes itself non-dumpable.
        .systemLibrary(name: "CSystemCalls"),
        .target(
            name: "SlipwayCore",
            dependencies: [
                "COpenSSL",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "SlipwaySecrets",
            dependencies: ["SlipwayCore"]
        ),
        .target(
            name: "SlipwayStore",
            dependencies: [
                "SlipwayCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The store on PostgreSQL, for several replicas sharing one database (issue 18).
        .target(
            name: "SlipwayPostgres",
            dependencies: [
                "SlipwayCore",
                "SlipwayStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SlipwayModels",
            dependencies: [
                "SlipwayCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayGitHub",
            dependencies: [
                "SlipwayCore",
                "SlipwayStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "SlipwayRegistry",
            dependencies: [
                "SlipwayCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayPipeline",
            dependencies: [
                "SlipwayCore",
                "SlipwayStore",
                "SlipwayModels",
                "SlipwayRegistry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "SlipwayServer",
            dependencies: [
                "CSystemCalls",
                "SlipwayCore",
                "SlipwayStore",
                "SlipwayPipeline",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayDaemon",
            dependencies: [
                "CSystemCalls",
                "SlipwayCore",
                "SlipwayGitHub",
                "SlipwayStore",
                "SlipwayPostgres",
                "SlipwayPipeline",
                "SlipwayServer",
                "SlipwaySecrets",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "slipwayd",
            dependencies: [
                "SlipwayDaemon",
                "SlipwayCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "slipway",
            dependencies: [
                "SlipwayCore",
                "SlipwayModels",
                "SlipwayRegistry",
                "SlipwaySecrets",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SlipwayTesting",
            dependencies: [
                "SlipwayCore",
                "CSystemCalls",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "SlipwayCoreTests", dependencies: ["SlipwayCore", "SlipwayTesting"]),
        .testTarget(
            name: "SlipwayStoreTests",
            dependencies: ["SlipwayStore", "SlipwayCore", "SlipwayTesting", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "SlipwayPipelineTests", dependencies: ["SlipwayPipeline", "SlipwayStore", "SlipwayCore", "SlipwayTesting"]),
        .testTarget(name: "SlipwayModelsTests", dependencies: ["SlipwayModels", "SlipwayCore", "SlipwayTesting"]),
        .testTarget(name: "SlipwayRegistryTests", dependencies: ["SlipwayRegistry", "SlipwayCore", "SlipwayTesting"]),
        .testTarget(
            name: "SlipwayPostgresTests",
            dependencies: [
                "SlipwayPostgres", "SlipwayStore", "SlipwayCore", "SlipwayTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SlipwayServerTests",
            dependencies: [
                "SlipwayServer", "SlipwayPipeline", "SlipwayStore", "SlipwayCore", "SlipwayTesting",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]),
        .testTarget(
            name: "SlipwayEndToEndTests",
            dependencies: [
                "SlipwayTesting",
                "SlipwayCore",
                "SlipwayStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
    ]
)
