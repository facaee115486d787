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
        .executable(name: "chronicle", targets: ["ChronicleCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
        .target(name: "ChronicleTesting", dependencies: ["Chronicle"], swiftSettings: strict),
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
        .testTarget(
            name: "ChronicleSQLiteTests",
            dependencies: [
                "Chronicle", "ChronicleSQLite", "ChronicleTesting",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ChronicleCLITests", dependencies: ["ChronicleCLI"], swiftSettings: strict),
    ]
)
