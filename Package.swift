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
        .library(name: "ChroniclePostgres", targets: ["ChroniclePostgres"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
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
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ChroniclePostgres",
            dependencies: [
                "Chronicle",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(name: "ChronicleTesting", dependencies: ["Chronicle"], swiftSettings: strict),
        .testTarget(name: "ChronicleTests", dependencies: ["Chronicle", "ChronicleTesting"], swiftSettings: strict),
        .testTarget(
            name: "ChronicleSQLiteTests",
            dependencies: ["Chronicle", "ChronicleSQLite", "ChronicleTesting"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChroniclePostgresTests",
            dependencies: ["Chronicle", "ChroniclePostgres", "ChronicleTesting", "ChroniclePostgresTestWorker"],
            swiftSettings: strict
        ),
        // A child process for ChroniclePostgresTests: concurrent writers and lease holders that
        // the tests start and kill.
        .executableTarget(
            name: "ChroniclePostgresTestWorker",
            dependencies: ["Chronicle", "ChroniclePostgres"],
            path: "Tests/ChroniclePostgresTestWorker",
            swiftSettings: strict
        ),
    ]
)
