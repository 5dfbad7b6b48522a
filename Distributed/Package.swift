// swift-tools-version: 6.2
// Data-parallel training of DeepLearning's models over MPI (Open MPI), a package of its own so
// that the library, its quick start and its tests build without MPI (it uses the examples'
// experiments, Examples/, by path):
//   DistributedTraining  the library: World (MPI's ranks), DataParallel (agreement, shards,
//                        gradient combination, fit), DistributedOptimizer
//   mpi-train            the spiral and digits examples on N ranks
//   distributed-checks   the scenarios the tests launch with mpirun
//   mpi-bench            the time of a step split into compute and gradient combination
//
//     apt-get install -y libopenmpi-dev openmpi-bin
//     swift build -c release --package-path Distributed
//     mpirun -np 2 Distributed/.build/release/mpi-train spiral
//     swift test --package-path Distributed
import PackageDescription

let package = Package(
    name: "Distributed",
    products: [
        .library(name: "DistributedTraining", targets: ["DistributedTraining"]),
        .executable(name: "mpi-train", targets: ["mpi-train"]),
    ],
    dependencies: [
        // The library, by path. `name:` makes the identity independent of the folder's name.
        .package(name: "DeepLearning", path: ".."),
        // The examples' package, for the spiral and digits experiments' settings, parts and
        // the ranges of their options.
        .package(name: "Examples", path: "../Examples"),
    ],
    targets: [
        // Open MPI's C interface (Debian: libopenmpi-dev), with the handles Swift cannot import
        // as macros returned by inline functions.
        .systemLibrary(
            name: "CMPI",
            path: "Sources/CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        .target(
            name: "DistributedTraining",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"), "CMPI"]
        ),
        .executableTarget(
            name: "mpi-train",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "DistributedTraining",
                           .product(name: "SpiralExperiment", package: "Examples"),
                           .product(name: "DigitsExperiment", package: "Examples"),
                           .product(name: "ExampleOptions", package: "Examples")]
        ),
        .executableTarget(
            name: "distributed-checks",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "DistributedTraining",
                           .product(name: "SpiralExperiment", package: "Examples"),
                           .product(name: "DigitsExperiment", package: "Examples")]
        ),
        .executableTarget(
            name: "mpi-bench",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "DistributedTraining",
                           .product(name: "DigitsExperiment", package: "Examples")]
        ),
        // Launch distributed-checks and mpi-train with mpirun and check the guarantees.
        .testTarget(name: "DistributedTests", dependencies: ["distributed-checks", "mpi-train"]),
    ]
)
