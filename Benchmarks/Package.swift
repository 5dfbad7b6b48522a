// swift-tools-version: 6.2
// Benchmarks of DeepLearning, a package of its own so that a package importing DeepLearning
// never sees OpenBLAS:
//   kernels   the C kernels against OpenBLAS, memcpy and plain loops
//   training  whole training runs, rotated with numpy, JAX and PyTorch by peers/run_peers.py
//   graph     operations recorded for backward() against the fused layers, same run
//   operations  one operation or layer on the graph at a time, for peers/operations_rounds.py
//
//     swift run -c release --package-path Benchmarks kernels [--quick] [--filter gemm]
//     swift run -c release --package-path Benchmarks training [--quick]
import PackageDescription

let package = Package(
    name: "Benchmarks",
    dependencies: [
        // The library, by path. `name:` makes the identity independent of the folder's name.
        .package(name: "DeepLearning", path: ".."),
        // The examples' package, for the spiral experiment's configuration.
        .package(name: "Examples", path: "../Examples"),
    ],
    targets: [
        // OpenBLAS's CBLAS, the GEMM peer (Debian: libopenblas-dev, its pthreads build).
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // C helpers: the FMA peak, naive and serial reference loops, variants of the GEMM's
        // table (which reads the library's internal gemm_plan.h by path), waiting for idle
        // threads, the thread CPU-time clock.
        // No -march: the peak picks its instruction set at run time, the reference loops
        // get the same baseline x86-64 code as the kernels.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")],
            cSettings: [.unsafeFlags(["-std=c11", "-O3"])]
        ),
        // Reading the benchmarks' command-line arguments.
        .target(name: "BenchmarkArguments"),
        // The wall clock, and how busy other processes kept the machine.
        .target(name: "BenchmarkMachine"),
        .executableTarget(
            name: "kernels",
            dependencies: [
                // `import CKernels` works through this product: SwiftPM hands a target the
                // module maps of the C targets its dependencies are built from.
                .product(name: "DeepLearning", package: "DeepLearning"),
                "COpenBLAS",
                "BenchmarkSupport", "BenchmarkArguments", "BenchmarkMachine",
            ]
        ),
        .executableTarget(
            name: "training",
            dependencies: [
                .product(name: "DeepLearning", package: "DeepLearning"),
                .product(name: "SpiralExperiment", package: "Examples"),
                "BenchmarkArguments", "BenchmarkMachine",
            ]
        ),
        .executableTarget(
            name: "graph",
            dependencies: [
                .product(name: "DeepLearning", package: "DeepLearning"),
                .product(name: "SpiralExperiment", package: "Examples"),
                "BenchmarkArguments", "BenchmarkMachine",
            ]
        ),
        .executableTarget(
            name: "operations",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")]
        ),
    ]
)
