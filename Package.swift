// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Chronicle",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Chronicle", targets: ["Chronicle"]),
        .library(name: "ChronicleSQLite", targets: ["ChronicleSQLite"]),
        .library(name: "ChronicleTesting", targets: ["ChronicleTesting"]),
        .library(name: "ChronicleHTTP", targets: ["ChronicleHTTP"]),
        .library(name: "ChronicleInstrumentation", targets: ["ChronicleInstrumentation"]),
        .executable(name: "chronicle", targets: ["ChronicleCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Tests only: streams server-sent events over real HTTP (HummingbirdTesting builds it anyway).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    ],
    targets: [
        // Core: values, protocols, the in-memory store. No third-party dependencies.
        .target(name: "Chronicle", swiftSettings: strict),
        .target(
            name: "ChronicleSQLite",
            dependencies: [
                "Chronicle",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(name: "ChronicleTesting", dependencies: ["Chronicle"], swiftSettings: strict),
        // Read API over HTTP (Hummingbird 2): streams, $all, projection status, live feed, queries.
        .target(
            name: "ChronicleHTTP",
            dependencies: [
                "Chronicle", "ChronicleSQLite",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Metrics and tracing decorators for stores and repositories.
        .target(
            name: "ChronicleInstrumentation",
            dependencies: [
                "Chronicle",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // The `chronicle` command line tool.
        .executableTarget(
            name: "ChronicleCLI",
            dependencies: [
                "Chronicle", "ChronicleSQLite",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ChronicleTests", dependencies: ["Chronicle", "ChronicleTesting"], swiftSettings: strict),
        // Helper process for ChronicleSQLiteTests' multi-process tests (launched, not linked for use).
        .executableTarget(
            name: "ChronicleStoreStress",
            dependencies: [
                "Chronicle", "ChronicleSQLite",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/ChronicleStoreStress",
            swiftSettings: strict
        ),
        // Helper process for the projection crash tests: runs a projection until SIGKILLed.
        .executableTarget(
            name: "ChronicleProjectionCrash",
            dependencies: [
                "Chronicle", "ChronicleSQLite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/ChronicleProjectionCrash",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleSQLiteTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleTesting", "ChronicleStoreStress", "ChronicleProjectionCrash",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleInstrumentationTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleInstrumentation",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // The docs' snippets, compiled and run (DocsReadmeExample is the README's, run as a program).
        .executableTarget(
            name: "DocsReadmeExample",
            dependencies: ["Chronicle", "ChronicleSQLite"],
            path: "Tests/Tools/DocsReadmeExample",
            swiftSettings: strict
        ),
        .testTarget(
            name: "DocsSnippetsTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleTesting", "ChronicleInstrumentation", "DocsReadmeExample",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ChronicleCLITests", dependencies: ["ChronicleCLI"], swiftSettings: strict),
        .testTarget(
            name: "ChronicleHTTPTests",
            dependencies: [
                "Chronicle",
                "ChronicleHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
