// swift-tools-version: 6.2
// The examples of DeepLearning and the experiments behind them, a package of its own so that a
// package depending on DeepLearning sees only the library and resolves none of their
// dependencies (swift-argument-parser, libpng, zlib):
//   spiral   the article's network on the spiral data, and a picture of its decision regions
//   digits   a small CNN on the 8x8 handwritten digits (the data set is a resource of
//            DigitsExperiment: data/, with its source and licence)
//   autodiff the article's y = sin(x1) + x1·x2 and its gradients by automatic differentiation
//
//     swift run -c release --package-path Examples spiral
//     swift run -c release --package-path Examples digits
//     swift test --package-path Examples
import PackageDescription

let package = Package(
    name: "Examples",
    products: [
        .executable(name: "spiral", targets: ["spiral"]),
        .executable(name: "digits", targets: ["digits"]),
        .executable(name: "autodiff", targets: ["autodiff"]),
        // The spiral experiment's configuration and training (used by Benchmarks/ and
        // Distributed/).
        .library(name: "SpiralExperiment", targets: ["SpiralExperiment"]),
        // The digits experiment's data, configuration and training.
        .library(name: "DigitsExperiment", targets: ["DigitsExperiment"]),
        // The checks of the options the examples share (used by Distributed/'s mpi-train).
        .library(name: "ExampleOptions", targets: ["ExampleOptions"]),
    ],
    dependencies: [
        // The library, by path. `name:` makes the identity independent of the folder's name.
        .package(name: "DeepLearning", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The ranges of the options the examples share, and their messages.
        .target(
            name: "ExampleOptions",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")]
        ),
        // The spiral experiment's configuration and training, shared by the example, its test,
        // Benchmarks/ and Distributed/.
        .target(
            name: "SpiralExperiment",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "ExampleOptions"]
        ),
        // libpng, for the spiral example's picture (Debian: libpng-dev).
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng"),
        .executableTarget(
            name: "spiral",
            dependencies: [
                .product(name: "DeepLearning", package: "DeepLearning"),
                "SpiralExperiment", "ExampleOptions", "CPNG",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // zlib, for the digits example's gzip-compressed data (Debian: zlib1g-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // The digits experiment's data loading, configuration and training, shared by the
        // example and its tests; the data set and its README travel with it as a resource.
        .target(
            name: "DigitsExperiment",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"), "CZlib",
                           "ExampleOptions"],
            resources: [.copy("data")]
        ),
        .executableTarget(
            name: "digits",
            dependencies: [
                .product(name: "DeepLearning", package: "DeepLearning"),
                "DigitsExperiment", "ExampleOptions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The article's automatic-differentiation example: y = sin(x1) + x1·x2 and its gradients.
        .executableTarget(
            name: "autodiff",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")]
        ),
        .testTarget(
            name: "ExamplesTests",
            dependencies: [
                .product(name: "DeepLearning", package: "DeepLearning"),
                "SpiralExperiment", "DigitsExperiment", "ExampleOptions",
            ]
        ),
    ]
)
