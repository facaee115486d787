// swift-tools-version:6.1
import PackageDescription

// The benchmark workload (Docs/Performance.md), a package of its own so that neither Chronicle's
// users nor Chronicle's own `swift build` and `swift test` compile it:
//
//     swift build -c release --package-path Benchmarks     # or Benchmarks/run.sh, which runs it
let package = Package(
    name: "ChronicleBenchmarks",
    platforms: [.macOS(.v15), .iOS(.v18), .tvOS(.v18), .watchOS(.v11), .visionOS(.v2)],
    dependencies: [
        .package(name: "Chronicle", path: ".."),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),  // RELAY's receiver
    ],
    targets: [
        .executableTarget(
            name: "ChronicleBenchmarks",
            dependencies: [
                .product(name: "Chronicle", package: "Chronicle"),
                .product(name: "ChronicleSQLite", package: "Chronicle"),
                .product(name: "ChroniclePostgres", package: "Chronicle"),
                .product(name: "ChronicleRelay", package: "Chronicle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Swift",
            swiftSettings: [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)
