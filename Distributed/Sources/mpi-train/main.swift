// mpi-train: the spiral example trained data-parallel on the ranks of an MPI job.
//
//     mpirun -np 2 --allow-run-as-root --oversubscribe Distributed/.build/release/mpi-train spiral
//
// Options as the single-process `spiral` example's (`--batch-size` is the global batch, split
// between the ranks), plus `--threads` per rank. Only rank 0 prints.
import DeepLearning
import DistributedExperiments
import DistributedTraining
import Foundation

let usage = """
    usage: mpirun -np N mpi-train spiral [--epochs 200] [--batch-size 20 (global, a multiple \
    of N)] [--hidden-units 100] [--learning-rate 0.1] [--momentum 0.9] [--weight-decay 0.001] \
    [--seed 0] [--threads T (per rank; default OMP_NUM_THREADS or all processors)]
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

let world = World()
let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments[1] == "spiral",
      let options = parsedOptions(arguments.dropFirst(2)),
      Set(options.keys).isSubset(of: ["epochs", "batch-size", "hidden-units", "learning-rate",
                                       "momentum", "weight-decay", "seed", "threads"])
else {
    if world.rank == 0 { print(usage) }
    world.finalize()
    exit(2)
}

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

var network = SpiralNetwork()
let epochs = option("epochs", 200, in: 1...1_000_000)
let globalBatchSize = option("batch-size", 20, in: 1...1_000_000)
network.hiddenUnits = option("hidden-units", 100, in: 1...100_000)
network.learningRate = option("learning-rate", Float(0.1), in: 0...1000)
network.momentum = option("momentum", Float(0.9), in: 0...1)
network.weightDecay = option("weight-decay", Float(0.001), in: 0...1000)
network.seed = option("seed", UInt64(0), in: 0...UInt64.max)
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
let (inputs, labels) = network.data()
let model = network.model()
do {
    let parallel = try DataParallel(model: model, world: world)
    let start = Date()
    let history = try parallel.fit(
        model, inputs: inputs, labels: labels,
        optimizer: network.optimizer(for: model.parameters), epochs: epochs,
        globalBatchSize: globalBatchSize, seed: network.seed &+ 2
    ) { epoch, loss in
        if epoch % max(1, epochs / 10) == 0 { print("epoch \(epoch): loss \(loss)") }
    }
    let seconds = Date().timeIntervalSince(start)
    let (shardInputs, shardLabels) = parallel.shard(inputs, labels: labels,
                                                    globalBatchSize: globalBatchSize)
    let accuracy = try parallel.accuracy(of: model, shardInputs, labels: shardLabels)
    try parallel.checkParametersAgree()
    if world.rank == 0 {
        print("training accuracy \(String(format: "%.1f", accuracy * 100))%, final loss "
              + "\(history.last!), \(String(format: "%.3f", seconds)) s")
        print("parameters identical on every rank (hash \(String(parallel.parameterHash, radix: 16)))")
    }
} catch {
    print("rank \(world.rank) stopped: \(error)")
    world.finalize()
    exit(1)
}
world.finalize()
