// mpi-train: the spiral and digits examples trained data-parallel on the ranks of an MPI job.
//
//     mpirun -np 2 --allow-run-as-root --oversubscribe Distributed/.build/release/mpi-train spiral
//     mpirun -np 2 --allow-run-as-root --oversubscribe Distributed/.build/release/mpi-train digits
//
// The single-process examples' options, defaults and ranges (the experiments' own:
// SpiralExperiment, DigitsExperiment, ExampleOptions); `--batch-size` is the global batch, split
// between the ranks, `--threads` per rank; the spiral's picture (`--output`) is the spiral
// executable's alone. Only rank 0 prints the run and writes `--save`; a rank that stops prints
// its error.
import DeepLearning
import DigitsExperiment
import DistributedTraining
import ExampleOptions
import SpiralExperiment
import Foundation

/// The experiments' settings, the options' defaults.
let (spiralDefaults, digitsDefaults) = (SpiralExperiment(), DigitsExperiment())
/// The defaults of each digits network, "30|10".
func architectureDefaults(_ value: (DigitsExperiment.Architecture) -> Any) -> String {
    DigitsExperiment.Architecture.allCases.map { "\(value($0))" }.joined(separator: "|")
}

let usage = """
    usage: mpirun -np N mpi-train spiral [--epochs \(spiralDefaults.epochs)] \
    [--batch-size \(spiralDefaults.batchSize)] [--hidden-units \(spiralDefaults.hiddenUnits)] \
    [--learning-rate \(spiralDefaults.learningRate)] [--momentum \(spiralDefaults.momentum)] \
    [--weight-decay \(spiralDefaults.weightDecay)] [--init he|article|glorot] \
    [--seed \(spiralDefaults.seed)] [--threads T]
           mpirun -np N mpi-train digits [--model cnn|residual] \
    [--epochs \(architectureDefaults(\.epochs))] [--batch-size \(digitsDefaults.batchSize)] \
    [--learning-rate \(architectureDefaults(\.learningRate))] [--seed \(digitsDefaults.seed)] \
    [--split-seed \(digitsDefaults.splitSeed)] [--data PATH] [--save PATH | --load PATH] \
    [--threads T]
    --batch-size is the global batch, a multiple of N; --threads the kernel threads of each rank
    (default: OMP_NUM_THREADS or all processors); the ranges are the single-process examples';
    digits: the defaults of --epochs and --learning-rate are the model's (cnn, residual);
    --save writes the trained model (safetensors, rank 0 only); --load evaluates a saved model
    on the test images, untrained. The spiral's picture (--output) is drawn by the
    single-process spiral example only.
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
               "weight-decay", "init", "seed", "threads"],
    "digits": ["model", "epochs", "batch-size", "learning-rate", "seed", "split-seed", "data",
               "save", "load", "threads"],
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

/// Ends the job with `message` and the usage (printed by rank 0).
@MainActor func stop(_ message: String) -> Never {
    if world.rank == 0 { print("\(message)\n\(usage)") }
    world.finalize()
    exit(2)
}

/// The option's value, or `fallback`; ends the job with the usage when it does not parse.
@MainActor func option<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
    guard let text = options[name] else { return fallback }
    guard let value = T(text) else { stop("--\(name) \(text) does not parse as \(T.self)") }
    return value
}

/// The value of option `name`, one of `Choice`'s cases, or `fallback`; ends the job with the
/// usage when it names none.
@MainActor func choice<Choice: RawRepresentable & CaseIterable>(_ name: String, _ fallback: Choice)
    -> Choice where Choice.RawValue == String
{
    guard let text = options[name] else { return fallback }
    guard let value = Choice(rawValue: text) else {
        stop("--\(name) \(text) must be one of "
             + Choice.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return value
}

/// Reads the options every experiment has into `settings`.
@MainActor func readTrainingOptions(into settings: inout some TrainingSettings) {
    settings.epochs = option("epochs", settings.epochs)
    settings.batchSize = option("batch-size", settings.batchSize)
    settings.learningRate = option("learning-rate", settings.learningRate)
    settings.seed = option("seed", settings.seed)
}

var spiral = spiralDefaults
var digits = DigitsExperiment(architecture: choice("model", digitsDefaults.architecture))
if experiment == "spiral" {
    readTrainingOptions(into: &spiral)
    spiral.hiddenUnits = option("hidden-units", spiral.hiddenUnits)
    spiral.momentum = option("momentum", spiral.momentum)
    spiral.weightDecay = option("weight-decay", spiral.weightDecay)
    spiral.weightInitialization = choice("init", spiral.weightInitialization)
} else {
    readTrainingOptions(into: &digits)
    digits.splitSeed = option("split-seed", digits.splitSeed)
}
let threads = options["threads"].map { _ in option("threads", 0) }
let settings: any TrainingSettings = experiment == "spiral" ? spiral : digits
if let message = invalidOption(in: settings, threads: threads) { stop(message) }
if let threads { Threads.count = threads }
let (epochs, globalBatchSize) = (settings.epochs, settings.batchSize)
guard globalBatchSize % world.size == 0 else {
    stop("--batch-size \(globalBatchSize) must be a multiple of the \(world.size) ranks")
}
for name in ["save", "load", "data"] where options[name]?.isEmpty == true {
    stop("--\(name) must name a file")
}
if options["save"] != nil && options["load"] != nil {
    stop("--save and --load exclude each other: --load does not train")
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
    var finalLoss = ""
    var accuracyReport: String
    if experiment == "spiral" {
        let (inputs, labels) = spiral.data()
        model = spiral.initializedModel()
        parallel = try DataParallel(model: model, world: world)
        let history = try parallel.fit(model, inputs: inputs, labels: labels,
                                       optimizer: spiral.optimizer(for: model.parameters),
                                       epochs: epochs, globalBatchSize: globalBatchSize,
                                       seed: spiral.shuffleSeed, progress: printProgress)
        let (shardInputs, shardLabels) = try parallel.shard(inputs, labels: labels,
                                                            globalBatchSize: globalBatchSize)
        let accuracy = try parallel.accuracy(of: model, shardInputs, labels: shardLabels)
        accuracyReport = "training accuracy \(String(format: "%.1f", accuracy * 100))%"
        finalLoss = "final loss \(history.last!), "
    } else {
        let split = try digits.split(DigitsExperiment.loadData(
            from: options["data"] ?? DigitsExperiment.defaultDataPath))
        model = digits.initializedModel()
        parallel = try DataParallel(model: model, world: world)
        if let path = options["load"] {
            // Every rank reads the file; the parameters' hash below checks they agree.
            try parallel.run { _ = try model.load(from: path) }
            if world.rank == 0 { print("model loaded from \(path)") }
        } else {
            // Before any work: a model that cannot be saved is not trained.
            if let path = options["save"] {
                try parallel.run {
                    if world.rank == 0 { try checkReplaceable(at: path) }
                }
            }
            if world.rank == 0 {
                print("Training \(digits.architecture.summary), Adam, \(epochs) epochs")
            }
            let history = try parallel.fit(
                model, inputs: split.train.inputs, labels: split.train.labels,
                optimizer: digits.optimizer(for: model.parameters), epochs: epochs,
                globalBatchSize: globalBatchSize, seed: digits.shuffleSeed,
                progress: printProgress)
            finalLoss = "final loss \(history.last!), "
            if let path = options["save"] {
                try parallel.run { if world.rank == 0 { try model.save(to: path) } }
                if world.rank == 0 { print("model saved to \(path)") }
            }
        }
        let evaluation = try Evaluation(model: model, on: split.test)
        accuracyReport = "test accuracy \(String(format: "%.2f", evaluation.accuracy * 100))%"
        if world.rank == 0 { accuracyReport += "\n" + evaluation.confusionTable }
    }
    let seconds = Date().timeIntervalSince(start)
    try parallel.checkParametersAgree()
    if world.rank == 0 {
        print(accuracyReport)
        print(finalLoss + "\(String(format: "%.3f", seconds)) s")
        print("parameters identical on every rank (hash "
              + "\(String(parallel.parameterHash, radix: 16)))")
    }
} catch {
    print("rank \(world.rank) stopped: \(error)")
    world.finalize()
    exit(1)
}
world.finalize()
