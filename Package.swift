// swift-tools-version: 6.3
// 6.3 is needed so that packages depending on this one by version accept the
// unsafe `-fopenmp` flag of the CKernels target.
import PackageDescription

let package = Package(
    name: "DeepLearning",
    products: [
        .library(name: "DeepLearning", targets: ["DeepLearning"]),
        .executable(name: "spiral", targets: ["spiral"]),
        // The spiral experiment's configuration and training (used by Benchmarks/).
        .library(name: "SpiralExperiment", targets: ["SpiralExperiment"]),
        .executable(name: "digits", targets: ["digits"]),
        // The digits experiment's data, configuration and training (used by Benchmarks/).
        .library(name: "DigitsExperiment", targets: ["DigitsExperiment"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // C11 + OpenMP kernels: every loop whose cost grows with the data.
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: [
                .unsafeFlags(["-std=c11", "-fopenmp", "-O3"]),
            ],
            linkerSettings: [.linkedLibrary("omp5")]
        ),
        .target(name: "DeepLearning", dependencies: ["CKernels"]),
        // The spiral experiment's configuration and training, shared by the example and its test.
        .target(name: "SpiralExperiment", dependencies: ["DeepLearning"]),
        // libpng, for the spiral example's picture (Debian: libpng-dev).
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng"),
        .executableTarget(
            name: "spiral",
            dependencies: [
                "DeepLearning", "SpiralExperiment", "CPNG",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The article's automatic-differentiation example: y = sin(x1) + x1·x2 and its gradients.
        .executableTarget(name: "autodiff", dependencies: ["DeepLearning"]),
        // zlib, for the digits example's gzip-compressed data (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The digits experiment's data loading, configuration and training, shared by the
        // example and its tests.
        .target(name: "DigitsExperiment", dependencies: ["DeepLearning", "CZlib"]),
        .executableTarget(
            name: "digits",
            dependencies: [
                "DeepLearning", "DigitsExperiment",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The kernels against naive references (DeepLearning only for its seeded generator).
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "DeepLearning"]),
        .testTarget(name: "DeepLearningTests", dependencies: ["DeepLearning", "SpiralExperiment", "DigitsExperiment", "CKernels"],
                    // Files saved by PyTorch and by the original save(to:), for SafeTensorsTests.
                    resources: [.copy("Fixtures")]),
    ]
)
