// swift-tools-version: 6.2
// Data-parallel training of DeepLearning's models over MPI (Open MPI), a package of its own so
// that the library, its quick start and its tests build without MPI:
//   DistributedTraining  the library: World (MPI's ranks), DataParallel (agreement, shards,
//                        gradient combination, fit), DistributedOptimizer
//   mpi-train            the spiral example on N ranks
//   distributed-checks   the scenarios the tests launch with mpirun
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
        // The spiral network and settings shared by the example and the checks.
        .target(
            name: "DistributedExperiments",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")]
        ),
        .executableTarget(
            name: "mpi-train",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "DistributedTraining", "DistributedExperiments"]
        ),
        .executableTarget(
            name: "distributed-checks",
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning"),
                           "DistributedTraining", "DistributedExperiments"]
        ),
        // Launch distributed-checks with mpirun and check the guarantees.
        .testTarget(name: "DistributedTests", dependencies: ["distributed-checks"]),
    ]
)
