// mpi-train: the spiral and digits examples trained data-parallel on the ranks of an MPI job.
//
//     mpirun -np 2 --allow-run-as-root --oversubscribe Distributed/.build/release/mpi-train spiral
//     mpirun -np 2 --allow-run-as-root --oversubscribe Distributed/.build/release/mpi-train digits
//
// Options as the single-process examples' (`--batch-size` is the global batch, split between
// the ranks), `--threads` per rank. Only rank 0 prints.
import DeepLearning
import DistributedExperiments
import DigitsExperiment
import DistributedTraining
import SpiralExperiment
import Foundation

let usage = """
    usage: mpirun -np N mpi-train spiral [--epochs 200] [--batch-size 20] [--hidden-units 100] \
    [--learning-rate 0.1] [--momentum 0.9] [--weight-decay 0.001] [--seed 0] [--threads T]
           mpirun -np N mpi-train digits [--epochs 30] [--batch-size 32] [--learning-rate 0.001] \
    [--seed 0] [--split-seed 0] [--data PATH] [--threads T]
    --batch-size is the global batch, a multiple of N; --threads the kernel threads of each rank
    (default: OMP_NUM_THREADS or all processors).
    """

/// The options after the experiment's name, as name → value.
func parsedOptions(_ arguments: ArraySlice<String>) -> [String: String]? {
    var options: [String: String] = [:]
    var rest = arguments
    while let name = rest.popFirst() {
        guard name.hasPrefix("--"), let value = rest.popFirst() else { return nil }
        options[String(name.dropFirst(2))] = value
    }
    return options
}

/// Each experiment's options.
let optionNames: [String: Set<String>] = [
    "spiral": ["epochs", "batch-size", "hidden-units", "learning-rate", "momentum",
               "weight-decay", "seed", "threads"],
    "digits": ["epochs", "batch-size", "learning-rate", "seed", "split-seed", "data", "threads"],
]

let world = World()
let arguments = CommandLine.arguments
guard arguments.count >= 2, let names = optionNames[arguments[1]],
      let options = parsedOptions(arguments.dropFirst(2)), Set(options.keys).isSubset(of: names)
else {
    if world.rank == 0 { print(usage) }
    world.finalize()
    exit(2)
}
let experiment = arguments[1]

/// The option's value, or `fallback`; ends the job with the usage when it does not parse or
/// is outside `range`.
@MainActor func option<T: LosslessStringConvertible & Comparable>(_ name: String, _ fallback: T,
                                                       in range: ClosedRange<T>) -> T {
    guard let text = options[name] else { return fallback }
    guard let value = T(text), range.contains(value) else {
        if world.rank == 0 { print("--\(name) \(text) must be in \(range)\n\(usage)") }
        world.finalize()
        exit(2)
    }
    return value
}

let epochs = option("epochs", experiment == "spiral" ? 200 : 30, in: 1...1_000_000)
let globalBatchSize = option("batch-size", experiment == "spiral" ? 20 : 32, in: 1...1_000_000)
let seed = option("seed", UInt64(0), in: 0...UInt64.max)
if options["threads"] != nil { Threads.count = option("threads", 1, in: 1...1024) }
guard globalBatchSize % world.size == 0 else {
    if world.rank == 0 {
        print("--batch-size \(globalBatchSize) must be a multiple of the \(world.size) ranks")
    }
    world.finalize()
    exit(2)
}

if world.rank == 0 {
    print("\(world.size) ranks, \(Threads.count) kernel threads each; GEMM: "
          + world.cpuKindsDescription)
    if world.hasMixedCPUKinds {
        print("warning: the ranks' CPUs take different GEMM paths; results may differ in the "
              + "last bits from a run on one kind of CPU")
    }
}

/// Prints every tenth epoch's global mean loss (rank 0 only: `fit` calls it there).
func printProgress(_ progress: TrainingProgress) {
    if progress.epoch % max(1, epochs / 10) == 0 {
        print("epoch \(progress.epoch): loss \(progress.loss)")
    }
}

do {
    let start = Date()
    let model: Model
    let parallel: DataParallel
    let history: [Float]
    var accuracyReport: String
    if experiment == "spiral" {
        var spiral = SpiralExperiment()
        spiral.hiddenUnits = option("hidden-units", 100, in: 1...100_000)
        spiral.learningRate = option("learning-rate", Float(0.1), in: 0...1000)
        spiral.momentum = option("momentum", Float(0.9), in: 0...1)
        spiral.weightDecay = option("weight-decay", Float(0.001), in: 0...1000)
        spiral.seed = seed
        let (inputs, labels) = spiral.data()
        model = spiral.initializedModel()
        parallel = try DataParallel(model: model, world: world)
        history = try parallel.fit(model, inputs: inputs, labels: labels,
                                   optimizer: spiral.optimizer(for: model.parameters),
                                   epochs: epochs, globalBatchSize: globalBatchSize,
                                   seed: spiral.shuffleSeed, progress: printProgress)
        let (shardInputs, shardLabels) = parallel.shard(inputs, labels: labels,
                                                        globalBatchSize: globalBatchSize)
        let accuracy = try parallel.accuracy(of: model, shardInputs, labels: shardLabels)
        accuracyReport = "training accuracy \(String(format: "%.1f", accuracy * 100))%"
    } else {
        var digits = DigitsExperiment()
        digits.learningRate = option("learning-rate", Float(1e-3), in: 0...1000)
        digits.splitSeed = option("split-seed", UInt64(0), in: 0...UInt64.max)
        digits.seed = seed
        let split = try digits.split(DigitsExperiment.loadData(
            from: options["data"] ?? DigitsExperiment.defaultDataPath))
        model = DigitsExperiment.makeModel()
        model.initializeParameters(seed: seed &+ 1)
        parallel = try DataParallel(model: model, world: world)
        history = try parallel.fit(
            model, inputs: split.train.inputs, labels: split.train.labels,
            optimizer: Adam(parameters: model.parameters, learningRate: digits.learningRate),
            epochs: epochs, globalBatchSize: globalBatchSize, seed: seed &+ 2,
            progress: printProgress)
        let evaluation = try Evaluation(model: model, on: split.test)
        accuracyReport = "test accuracy \(String(format: "%.2f", evaluation.accuracy * 100))%"
        if world.rank == 0 { accuracyReport += "\n" + evaluation.confusionTable }
    }
    let seconds = Date().timeIntervalSince(start)
    try parallel.checkParametersAgree()
    if world.rank == 0 {
        print(accuracyReport)
        print("final loss \(history.last!), \(String(format: "%.3f", seconds)) s")
        print("parameters identical on every rank (hash "
              + "\(String(parallel.parameterHash, radix: 16)))")
    }
} catch {
    print("rank \(world.rank) stopped: \(error)")
    world.finalize()
    exit(1)
}
world.finalize()
