// swift-tools-version:6.1
import PackageDescription

// Strict settings on every target: explicit `any`, imports internal unless re-exported, members visible only through their imports.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// The per-request modules run on one event loop each and never share mutable state across threads;
// dynamic exclusivity checks cost several percent of their CPU time (measured with perf), so release
// builds of those modules skip them. Debug builds and tests keep them.
let hotPath: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let nioCore: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1: Target.Dependency = .product(name: "NIOHTTP1", package: "swift-nio")
let nioEmbedded: Target.Dependency = .product(name: "NIOEmbedded", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "portcullis", targets: ["portcullis"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // Micro-benchmarks only (benchmarks/micro). The traits are named so that only the malloc
        // interposer (malloc counts) is on: the default set adds an ARC runtime interposer on Linux
        // with Swift 6.3, a package the mirror does not have.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // System OpenSSL 3 (Debian libssl-dev) plus a header of one-line wrappers for its macros.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // The only module that talks to OpenSSL: TLS handler, contexts, hashes, HMAC, signatures, random.
        .target(
            name: "PortcullisTLS",
            dependencies: ["COpenSSL", nioCore],
            swiftSettings: strict
        ),
        // HTTP/1 wire types shared by every layer: head parser, header access, gateway responses, addresses.
        .target(
            name: "PortcullisCore",
            dependencies: [nioCore],
            swiftSettings: hotPath
        ),
        // IAM policies: the JSON grammar compiled once, evaluation, API Gateway's combination tables.
        // Pure: no I/O, no event loops; the gateway, `check` and `policy simulate` share it.
        .target(
            name: "PortcullisPolicy",
            dependencies: ["PortcullisCore"],
            swiftSettings: hotPath
        ),
        // System SQLite 3 (Debian libsqlite3-dev): the quota state store's file.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Token buckets (one atomic word each), quota periods and counters, their state store.
        .target(
            name: "PortcullisThrottle",
            dependencies: ["PortcullisCore", "CSQLite"],
            swiftSettings: hotPath
        ),
        // YAML -> validated, immutable config values; errors carry file:line:column and key path.
        .target(
            name: "PortcullisConfig",
            dependencies: ["PortcullisCore", "PortcullisPolicy", "PortcullisThrottle", "PortcullisTLS", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // Outgoing HTTP/1.1 with keep-alive pools per event loop: key sets, discovery, external authorizers.
        .target(
            name: "PortcullisHTTPClient",
            dependencies: ["PortcullisCore", "PortcullisTLS", nioCore, nioPosix],
            swiftSettings: strict
        ),
        // Authorizer steps (none, ip; later jwt, sigv4, api keys, external) and their outcomes.
        .target(
            name: "PortcullisAuth",
            dependencies: [
                "PortcullisCore", "PortcullisConfig", "PortcullisPolicy", "PortcullisTLS", "PortcullisHTTPClient", nioCore, nioPosix, logging,
            ],
            swiftSettings: strict
        ),
        // Server pipeline, router, request phases, upstream pools, gateway responses, access log.
        .target(
            name: "PortcullisProxy",
            dependencies: [
                "PortcullisCore", "PortcullisConfig", "PortcullisAuth", "PortcullisPolicy", "PortcullisThrottle", "PortcullisTLS",
                nioCore, nioPosix, nioHTTP1, logging,
            ],
            swiftSettings: hotPath
        ),
        .executableTarget(
            name: "portcullis",
            dependencies: [
                "PortcullisProxy", "PortcullisConfig", "PortcullisCore", "PortcullisAuth", "PortcullisPolicy", "PortcullisThrottle", "PortcullisTLS",
                nioCore, nioPosix, logging,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Micro-benchmarks of the request path (benchmarks/README.md, "Micro-benchmarks"). The
        // benchmark plugin finds targets whose folder sits in a folder named `Benchmarks`.
        .executableTarget(
            name: "PortcullisMicro",
            dependencies: [
                "PortcullisCore", "PortcullisProxy", nioCore, nioEmbedded,
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "benchmarks/micro/Benchmarks/PortcullisMicro",
            swiftSettings: strict,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .testTarget(name: "PortcullisCoreTests", dependencies: ["PortcullisCore", nioCore, nioEmbedded]),
        .testTarget(name: "PortcullisThrottleTests", dependencies: ["PortcullisThrottle"]),
        .testTarget(name: "PortcullisConfigTests", dependencies: ["PortcullisConfig", "PortcullisCore", "PortcullisPolicy", "PortcullisThrottle"]),
        .testTarget(
            name: "PortcullisTLSTests", dependencies: ["PortcullisTLS", nioCore, nioEmbedded, nioPosix], exclude: ["Fixtures"]),
        .testTarget(
            name: "PortcullisHTTPClientTests",
            dependencies: ["PortcullisHTTPClient", "PortcullisCore", "PortcullisTLS", nioCore, nioPosix]
        ),
        .testTarget(
            name: "PortcullisAuthTests",
            dependencies: [
                "PortcullisAuth", "PortcullisCore", "PortcullisConfig", "PortcullisPolicy", "PortcullisTLS", nioCore, nioEmbedded, nioPosix, logging,
            ],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "PortcullisProxyTests",
            dependencies: [
                "PortcullisProxy", "PortcullisCore", "PortcullisConfig", "PortcullisAuth", "PortcullisPolicy", "PortcullisThrottle", "PortcullisTLS",
                nioCore, nioEmbedded,
                nioPosix, nioHTTP1, logging,
            ]
        ),
    ]
)
