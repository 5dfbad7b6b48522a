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

// `CK_FORCE_ISA=CK_ISA_AVX2` or `CK_ISA_BASELINE` in the environment of `swift build`: the
// kernels compiled for that one instruction set (CKernels/threading.h), to test on a CPU with
// AVX-512 the clones it never runs (.ci/clones). A define of the C target alone: the Swift
// modules' commands stay those of a normal build, so that only the kernels are compiled again.
// SwiftPM evaluates the manifest again, and plans the build again, whenever the environment
// changes: the next build without the variable compiles the kernels' clones again.
let forcedInstructionSet: [CSetting] = Context.environment["CK_FORCE_ISA"].map {
    [.define("CK_FORCE_ISA", to: $0)]
} ?? []

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
            ] + forcedInstructionSet,
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
