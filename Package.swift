// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]
// The libraries also say which imports their public API exposes (`public import`; every other
// import is internal, so a user does not see it), and use members only of modules they import
// themselves, as Hummingbird does.
let library: [SwiftSetting] = strict + [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Chronicle",
    // Every platform the code runs on: the floor is the `Synchronization` module (Mutex, Atomic),
    // new in macOS 15, iOS 18, tvOS 18, watchOS 11 and visionOS 2. Linux needs no declaration.
    // CI tests Linux only; the Apple platforms are declared, not tested (see the README).
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    products: [
        .library(name: "Chronicle", targets: ["Chronicle"]),
        .library(name: "ChronicleJSON", targets: ["ChronicleJSON"]),
        .library(name: "ChronicleSQLite", targets: ["ChronicleSQLite"]),
        .library(name: "ChronicleTesting", targets: ["ChronicleTesting"]),
        .library(name: "ChronicleHTTP", targets: ["ChronicleHTTP"]),
        .library(name: "ChronicleConsole", targets: ["ChronicleConsole"]),
        .library(name: "ChronicleInstrumentation", targets: ["ChronicleInstrumentation"]),
        .library(name: "ChronicleCommandLine", targets: ["ChronicleCommandLine"]),
        .library(name: "ChroniclePostgres", targets: ["ChroniclePostgres"]),
        .library(name: "ChroniclePrivacy", targets: ["ChroniclePrivacy"]),
        .library(name: "ChronicleRelay", targets: ["ChronicleRelay"]),
        .library(name: "ChronicleRelayTesting", targets: ["ChronicleRelayTesting"]),
        .executable(name: "chronicle", targets: ["ChronicleCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The Shop sample's demo client and the HTTP tests' streaming client (HummingbirdTesting needs it anyway).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // AES-GCM for ChroniclePrivacy's crypto-shredding and HMAC-SHA256 for ChronicleRelay's
        // signatures (those two modules only). The range admits 4.x, which postgres-nio already resolves.
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // A Foundation-compatible JSON coder (Foundation's bytes and values, several times faster),
        // the one JSON escaper and validator. Depends on Foundation only.
        .target(name: "ChronicleJSON", swiftSettings: library),
        // Core: values, protocols, the in-memory store. No third-party dependencies.
        .target(name: "Chronicle", dependencies: ["ChronicleJSON"], swiftSettings: library),
        .target(
            name: "ChronicleSQLite",
            dependencies: [
                "Chronicle",
                "ChronicleInstrumentation",  // the projection page span
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),  // the system libsqlite3, for raw calls on hot paths
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: library
        ),
        .target(name: "ChronicleTesting", dependencies: ["Chronicle"], swiftSettings: library),
        // The PostgreSQL backend: event store, gap-free order, LISTEN/NOTIFY, advisory-lock leases.
        .target(
            name: "ChroniclePostgres",
            dependencies: [
                "Chronicle",
                "ChronicleInstrumentation",  // the projection page span
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: library
        ),
        // Crypto-shredding: personal fields encrypted per subject (AES-GCM) by a codec decorator.
        .target(
            name: "ChroniclePrivacy",
            dependencies: ["Chronicle", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: library
        ),
        // Read API over HTTP (Hummingbird 2): streams, $all, projection status, live feed, queries.
        .target(
            name: "ChronicleHTTP",
            dependencies: [
                "Chronicle",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),  // the HTTP/1 server's timeouts
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),  // the graceful-shutdown signals
            ],
            swiftSettings: library
        ),
        // The web console over the read API: server-rendered pages, a small script, no build step.
        .target(
            name: "ChronicleConsole",
            dependencies: [
                "Chronicle", "ChronicleHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: library
        ),
        // Metrics and tracing decorators for stores and repositories, and the projection page span
        // (ProjectionPageScope.span) that both backends' read models use.
        .target(
            name: "ChronicleInstrumentation",
            dependencies: [
                "Chronicle",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: library
        ),
        // Events between services: the outbound relay (a process manager delivering over HTTP with
        // retries, dead letters and a circuit breaker) and the signed, idempotent inbox route.
        .target(
            name: "ChronicleRelay",
            dependencies: [
                "Chronicle",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: library
        ),
        // The system zlib (gzip), for `chronicle archive`'s files: the CLI's only, so a library user
        // builds none of it.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        // The relay under ChronicleTesting's simulator: an endpoint double (the real inbox, faults in
        // virtual time) and a ready-made relay simulation. A target of its own so ChronicleTesting's
        // users never build the HTTP client.
        .target(
            name: "ChronicleRelayTesting",
            dependencies: [
                "Chronicle", "ChronicleRelay", "ChronicleTesting",
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: library
        ),
        // The `chronicle` commands, as a library an application can extend with its read models.
        .target(
            name: "ChronicleCommandLine",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChroniclePostgres", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),  // SHA-256 of archive files
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: library
        ),
        // The `chronicle` command line tool.
        .executableTarget(name: "ChronicleCLI", dependencies: ["ChronicleCommandLine"], swiftSettings: strict),
        // An application's admin program registering a projector, for the CLI tests.
        .executableTarget(
            name: "ChronicleAdminExample",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleCommandLine",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/ChronicleAdminExample",
            swiftSettings: strict
        ),
        // The tests' own helpers (polling with a deadline, child processes that block no thread of
        // the cooperative pool). Not a product.
        .target(name: "ChronicleTestSupport", dependencies: ["ChronicleTesting"], path: "Tests/Support", swiftSettings: strict),
        .testTarget(name: "ChronicleJSONTests", dependencies: ["ChronicleJSON"], swiftSettings: strict),
        .testTarget(name: "ChronicleTests", dependencies: ["Chronicle", "ChronicleTesting", "ChronicleTestSupport"], swiftSettings: strict),
        // Helper process for ChronicleSQLiteTests' multi-process tests (launched, not linked for use).
        .executableTarget(
            name: "ChronicleStoreStress",
            dependencies: [
                "ChronicleTestSupport",
                "Chronicle", "ChronicleSQLite", "ChronicleTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/ChronicleStoreStress",
            swiftSettings: strict
        ),
        // Helper process for the projection crash tests: runs a projection until SIGKILLed.
        .executableTarget(
            name: "ChronicleProjectionCrash",
            dependencies: [
                "ChronicleTestSupport",
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
                "Chronicle", "ChronicleSQLite", "ChronicleTesting", "ChronicleTestSupport", "ChronicleStoreStress", "ChronicleProjectionCrash",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Helper process for ChronicleRelayTests' kill loop: runs a relay until SIGKILLed.
        .executableTarget(
            name: "ChronicleRelayWorker",
            dependencies: [
                "ChronicleTestSupport",
                "Chronicle", "ChronicleSQLite", "ChronicleRelay",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Tools/ChronicleRelayWorker",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleRelayTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChroniclePostgres", "ChronicleRelay", "ChronicleRelayTesting", "ChronicleTesting", "ChronicleTestSupport", "ChronicleRelayWorker",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChroniclePrivacyTests",
            dependencies: [
                "Chronicle", "ChroniclePrivacy", "ChronicleSQLite", "ChronicleTesting", "ChronicleTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleInstrumentationTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleInstrumentation", "ChronicleTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
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
                "Chronicle", "ChronicleSQLite", "ChronicleTesting", "ChronicleInstrumentation", "ChronicleTestSupport", "DocsReadmeExample", "ChronicleRelay",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleCLITests",
            dependencies: [
                "ChronicleCLI", "ChronicleAdminExample", "ChroniclePostgres", "ChronicleTestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                // The line reader's unit tests (@testable) and the file-level fault fixtures.
                "ChronicleCommandLine", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // The sample shop: `swift run Shop` (serve), `swift run Shop --demo` (whole flow once),
        // `swift run Shop --store postgres://…` (the same shop on PostgreSQL).
        .executableTarget(
            name: "Shop",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChroniclePostgres", "ChronicleHTTP", "ChronicleConsole", "ChronicleRelay",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Samples/Shop",
            swiftSettings: strict
        ),
        // The read API served on a loopback server for tests, and its answers read: shared by the
        // HTTP tests and the sample's tests. Not a product.
        .target(
            name: "ChronicleHTTPTestSupport",
            dependencies: [
                "ChronicleHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/HTTPSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChronicleHTTPTests",
            dependencies: [
                "Chronicle", "ChronicleHTTP", "ChronicleConsole", "ChronicleSQLite", "ChronicleTestSupport", "ChronicleHTTPTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),  // the live feed's streaming client
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The Shop sample's own tests (its flow over HTTP on SQLite and PostgreSQL, its hardening).
        .testTarget(
            name: "ShopTests",
            dependencies: [
                "Shop", "Chronicle", "ChronicleHTTP", "ChronicleSQLite", "ChroniclePostgres", "ChronicleTestSupport", "ChronicleHTTPTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Helper process for ChroniclePostgresTests: writers and lease holders the tests start and kill.
        .executableTarget(
            name: "ChroniclePostgresWorker",
            dependencies: ["Chronicle", "ChroniclePostgres", "ChronicleTesting", "ChronicleTestSupport", .product(name: "PostgresNIO", package: "postgres-nio")],
            path: "Tests/Tools/ChroniclePostgresWorker",
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChroniclePostgresTests",
            dependencies: [
                "Chronicle", "ChroniclePostgres", "ChronicleTesting", "ChronicleTestSupport", "ChroniclePostgresWorker", "ChronicleSQLite", "ChroniclePrivacy",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
