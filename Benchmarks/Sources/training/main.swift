// Whole training runs of DeepLearning, timed: the spiral example's fit and an MLP's steps.
// Prints one JSON line per timed run, the same records as the peers in Benchmarks/peers/,
// so that Benchmarks/peers/run_peers.py can rotate it with numpy, JAX and PyTorch.
//
//     swift run -c release --package-path Benchmarks training [--quick] [--threads N]
//                                                             [--thread-time] [--compare-update]
//                                                             [--optimizer sgd|adam|rmsprop]
import BenchmarkArguments
import BenchmarkMachine
import CKernels
import DeepLearning
import Foundation
import SpiralExperiment

struct Options {
    var threads: Int?
    var quick = false
    var workloads: Set<String> = ["spiral", "mlp"]
    var batches = [256, 32]
    var repeats = 1
    var mlpSteps: Int?
    var warmup = 5
    /// Time by this thread's CPU time instead of the wall clock: on a loaded machine it leaves
    /// out the time other processes held the core. Only for work on this thread alone: the
    /// spiral (below the kernels' serial threshold), the MLP with `--threads 1`.
    var threadTime = false
    /// The MLP's steps alternate, step by step in one process, between the update in the
    /// weights' dW products (`thenStep`, as `fit` trains) and the backward pass followed by
    /// `optimizer.step()`: the two forms then meet the same state of a shared machine.
    var compareUpdate = false
    /// The MLP's optimizer: SGD with momentum 0.9 (lr 0.01), Adam or RMSProp (their defaults).
    var optimizer = "sgd"

    static let usage = """
        usage: training [--threads N] [--quick] [--workloads spiral,mlp] [--batches 256,32]
                        [--repeats N] [--mlp-steps N] [--warmup N] [--thread-time]
                        [--compare-update] [--optimizer sgd|adam|rmsprop]
        """

    init(_ arguments: [String]) {
        var arguments = ArgumentReader(program: "training", usage: Options.usage,
                                       arguments: arguments)
        while let argument = arguments.next() {
            switch argument {
            case "--threads": threads = arguments.positiveInteger(for: argument)
            case "--quick": quick = true
            case "--workloads":
                workloads = Set(arguments.value(for: argument).split(separator: ",").map(String.init))
            case "--batches":
                batches = arguments.value(for: argument).split(separator: ",").map {
                    guard let batch = Int($0), batch > 0 else { arguments.fail("bad batch size \($0)") }
                    return batch
                }
            case "--repeats": repeats = arguments.positiveInteger(for: argument)
            case "--mlp-steps": mlpSteps = arguments.positiveInteger(for: argument)
            case "--warmup": warmup = arguments.positiveInteger(for: argument)
            case "--thread-time": threadTime = true
            case "--compare-update": compareUpdate = true
            case "--optimizer":
                optimizer = arguments.value(for: argument)
                guard ["sgd", "adam", "rmsprop"].contains(optimizer) else { arguments.fail("unknown optimizer \(optimizer)") }
            default: arguments.fail("unknown argument \(argument)")
            }
        }
        if quick { warmup = 2 }
        if compareUpdate && mlpSteps == 1 {
            arguments.fail("--compare-update needs at least 2 MLP steps, one of each form")
        }
    }
}

func seconds(of body: () throws -> Void) rethrows -> Double {
    try BenchmarkMachine.seconds(threadCPUTime: options.threadTime, of: body)
}

func emit(_ fields: [String: Any]) {
    var record = fields
    record["library"] = "DeepLearning"
    record["threads"] = Threads.count
    record["blas"] = "ck_sgemm, table " + String(cString: ck_gemm_arch_name(ck_gemm_get_arch()))
    if options.quick { record["quick"] = true }
    if options.threadTime { record["clock"] = "thread CPU time" }
    let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8)) // unbuffered: one whole line
}

/// The spiral example's default configuration; the fit alone is timed (3000 steps with
/// shuffling and batching), not the data generation.
func benchmarkSpiral(_ options: Options) throws {
    let configuration = SpiralExperiment()
    let epochs = options.quick ? 10 : configuration.epochs
    let (inputs, labels) = spiral(pointsPerClass: configuration.pointsPerClass,
                                  classes: configuration.classes, seed: 0)
    func train(seed: UInt64, epochs: Int) throws -> (Model, Double) {
        let model = Model {
            Linear(2, configuration.hiddenUnits)
            ReLU()
            Linear(configuration.hiddenUnits, configuration.classes)
        }
        model.initializeParameters(seed: seed)
        let optimizer = SGD(parameters: model.parameters, learningRate: configuration.learningRate,
                            momentum: configuration.momentum, weightDecay: configuration.weightDecay)
        let time = try seconds {
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: epochs,
                          batchSize: configuration.batchSize, seed: seed)
        }
        return (model, time)
    }
    _ = try train(seed: 99, epochs: 1) // warm-up: page faults, thread start-up
    let steps = epochs * ((inputs.shape[0] + configuration.batchSize - 1) / configuration.batchSize)
    for repeat_ in 0..<options.repeats {
        let (model, time) = try train(seed: UInt64(1 + repeat_), epochs: epochs)
        emit(["workload": "spiral", "form": "fit", "seconds": time, "steps": steps,
              "us_per_step": time / Double(steps) * 1e6,
              "accuracy": try model.accuracy(inputs, labels: labels)])
    }
}

/// Linear(784, 1024) → ReLU → Linear(1024, 1024) → ReLU → Linear(1024, 10), SGD lr 0.01,
/// momentum 0.9, on a pool of 4 random batches (N(0, 1) inputs, labels in 0..<10), cycled;
/// each step's backward pass and update in one call, the weights stepping in their dW
/// products.
func benchmarkMLP(_ options: Options, batch: Int) throws {
    var generator = SeededGenerator(seed: 0)
    let model = Model {
        Linear(784, 1024)
        ReLU()
        Linear(1024, 1024)
        ReLU()
        Linear(1024, 10)
    }
    model.initializeParameters(seed: 1)
    let optimizer: any Optimizer = switch options.optimizer {
    case "adam": Adam(parameters: model.parameters)
    case "rmsprop": RMSProp(parameters: model.parameters)
    default: SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9)
    }
    // The records of SGD, the default, name no optimizer.
    let optimizerField: [String: Any] = options.optimizer == "sgd" ? [:] : ["optimizer": options.optimizer]
    let loss = SoftmaxCrossEntropy()
    let pool: [(Tensor, [Int32])] = (0..<4).map { _ in
        (Tensor(shape: [batch, 784], values: (0..<batch * 784).map { _ in generator.nextNormal() }),
         (0..<batch).map { _ in Int32.random(in: 0..<10, using: &generator) })
    }
    var lastLoss: Float = 0
    /// One step; with `inProducts` the weights take their steps in their dW products, else
    /// after the backward pass, in `optimizer.step()`.
    func step(_ index: Int, inProducts: Bool = true) throws {
        let (inputs, labels) = pool[index % pool.count]
        optimizer.zeroGrad()
        lastLoss = try loss.forward(model.forward(inputs), labels: labels)
        if inProducts {
            model.accumulateParameterGradients(loss.backward(), thenStep: optimizer)
        } else {
            model.accumulateParameterGradients(loss.backward())
            optimizer.step()
        }
    }
    for index in 0..<options.warmup { try step(index) }
    let steps = options.mlpSteps ?? (options.quick ? 20 : (batch >= 128 ? 50 : 200))
    for _ in 0..<options.repeats {
        guard options.compareUpdate else {
            let time = try seconds { for index in 0..<steps { try step(index) } }
            emit(["workload": "mlp", "batch": batch, "steps": steps, "seconds": time,
                  "samples_per_second": Double(batch * steps) / time,
                  "us_per_step": time / Double(steps) * 1e6, "loss": lastLoss].merging(optimizerField) { $1 })
            continue
        }
        // Even steps in the products, odd ones after the backward pass: each step timed.
        var inProducts: [Double] = [], twoCalls: [Double] = []
        for index in 0..<steps {
            let time = try seconds { try step(index, inProducts: index % 2 == 0) }
            if index % 2 == 0 { inProducts.append(time) } else { twoCalls.append(time) }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        emit(["workload": "mlp", "form": "update in products against two calls", "batch": batch,
              "steps": steps, "us_per_step_in_products": median(inProducts) * 1e6,
              "us_per_step_two_calls": median(twoCalls) * 1e6,
              "ratio": median(zip(inProducts, twoCalls).map { $0 / $1 }), "loss": lastLoss]
                .merging(optimizerField) { $1 })
    }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
if let threads = options.threads { Threads.count = threads }
if options.workloads.contains("spiral") { try benchmarkSpiral(options) }
if options.workloads.contains("mlp") {
    for batch in options.batches { try benchmarkMLP(options, batch: batch) }
}
