// swift-tools-version: 6.2
// 6.2 is the lowest tools version at which packages depending on this one by version accept
// the unsafe `-fopenmp` flag of the CKernels target (6.1 rejects it: "contains unsafe build
// flags").
//
// The library alone: a package that depends on this one sees the `DeepLearning` product and
// builds no other package (swift-docc-plugin only adds the `generate-documentation` command:
// no product, no target depends on it). The examples and their experiments are the package in Examples/,
// the benchmarks the one in Benchmarks/, the libFuzzer targets the one in Fuzz/ (each depends
// on this one by path).
import PackageDescription

let package = Package(
    name: "DeepLearning",
    products: [
        .library(name: "DeepLearning", targets: ["DeepLearning"]),
    ],
    dependencies: [
        // `swift package generate-documentation --target DeepLearning`: the DocC catalog
        // Sources/DeepLearning/DeepLearning.docc and the doc comments.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
        // The kernels against naive references (DeepLearning only for its seeded generator).
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels", "DeepLearning"]),
        .testTarget(name: "DeepLearningTests", dependencies: ["DeepLearning", "CKernels"],
                    // Files saved by PyTorch and by the original save(to:), for SafeTensorsInteropTests.
                    resources: [.copy("Fixtures")]),
    ]
)
