// swift-tools-version: 6.2
// libFuzzer targets for DeepLearning's readers of files, a package of its own: a fuzz target has no
// `main` (libFuzzer's is linked in), so it is built apart from the library, its examples and
// tests, with the fuzzer's and the address sanitizer's instrumentation.
//
// Each target is a folder Sources/<Name>/ holding one `LLVMFuzzerTestOneInput`, with its seed
// corpus in Corpus/<Name>/ (described in Corpus/README.md); .ci/fuzz builds them all and runs
// each one. Adding a target: its name below, its source folder, its corpus folder and its
// number of runs in .ci/fuzz.
//
//     bash .ci/fuzz     # builds the targets (the flags they need are there) and runs each
//     Fuzz/.build/release/FuzzCSV -seed=1 -runs=100000 "$(mktemp -d)" Fuzz/Corpus/FuzzCSV
import PackageDescription

let fuzzTargets = [
    "FuzzCSV",           // parseLabelledCSV(_:source:) on any bytes
    "FuzzSafeTensors",   // Model.load(fromSafeTensorsBytes:source:) on any bytes, then training
    "FuzzCheckpoint",    // Model.fit(..., resumingFrom:) a checkpoint of any bytes
]

let package = Package(
    name: "Fuzz",
    dependencies: [
        // The library, by path. `name:` makes the identity independent of the folder's name.
        .package(name: "DeepLearning", path: ".."),
    ],
    targets: fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [.product(name: "DeepLearning", package: "DeepLearning")]
        )
    }
)
