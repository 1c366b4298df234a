// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "metrics-cost",
    dependencies: [
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        .executableTarget(name: "metrics-cost", dependencies: [
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
    ]
)
