// mpi-bench: the time of a data-parallel training step, split into its parts, for the MLP
// 784-1024-1024-10 (SGD with momentum) and the digits CNN (Adam) on random data. Each rank
// trains on its share (global batch / ranks) of a pool of 4 random global batches, cycled:
//
//     compute   forward, loss, backward of this rank's share, and the optimizer's update
//     wait      the agreement on the loss (`synchronize`): a small all-gather, so mostly the
//               wait for the slowest rank to finish its backward pass
//     exchange  the gradients' combination (`combineGradients`: all-to-all, rank-order sums,
//               all-gather) and the buffers' broadcast
//
// On 1 rank there is nothing to combine and the step is Model.fit's (no agreement, no copies).
// Rank 0 prints one JSON line: the mean time per step, the medians over the timed steps of the
// step and of each part, and the shortest step, compute and exchange (milliseconds; on a
// shared machine the shortest are the steps no other process interrupted). Distributed/Benchmark/compare.py interleaves
// configurations:
//
//     mpirun -np 2 --bind-to core Distributed/.build/release/mpi-bench mlp --threads 1
//     mpirun -np 1 --bind-to none Distributed/.build/release/mpi-bench mlp --threads 2
import DeepLearning
import DigitsExperiment
import DistributedTraining
import Foundation

let usage = """
    usage: mpirun -np N mpi-bench mlp|cnn [--batch-size B] [--steps S] [--warmup W] [--threads T]
    --batch-size is the global batch (mlp: 256, cnn: 32), a multiple of N, up to 65536; S timed
    steps (50) after W untimed ones (5), each up to 1000000; T kernel threads per rank, up to
    1024.
    """

/// Each option's largest value: the batches' samples are held in memory, four global batches.
let optionLimits = ["batch-size": 65_536, "steps": 1_000_000, "warmup": 1_000_000,
                    "threads": 1024]

let world = World()
let arguments = CommandLine.arguments
var options: [String: Int] = [:]
var rest = arguments.dropFirst(2)
var parsed = true
while let name = rest.popFirst() {
    guard name.hasPrefix("--"), let text = rest.popFirst(), let value = Int(text),
          let limit = optionLimits[String(name.dropFirst(2))], (1...limit).contains(value)
    else {
        parsed = false
        break
    }
    options[String(name.dropFirst(2))] = value
}
let workload = arguments.count >= 2 ? arguments[1] : ""
let globalBatchSize = options["batch-size"] ?? (workload == "cnn" ? 32 : 256)
guard parsed, ["mlp", "cnn"].contains(workload), globalBatchSize % world.size == 0 else {
    if world.rank == 0 { print(usage) }
    world.finalize()
    exit(2)
}
if let threads = options["threads"] { Threads.count = threads }
let steps = options["steps"] ?? 50
let warmup = options["warmup"] ?? 5
let batchSize = globalBatchSize / world.size

/// The model and its optimizer: the MLP with SGD (lr 0.01, momentum 0.9) or the digits CNN
/// with Adam, initialized from seed 1.
let model: Model
let optimizer: any Optimizer
let sampleShape: [Int]
if workload == "mlp" {
    model = Model {
        Linear(784, 1024)
        ReLU()
        Linear(1024, 1024)
        ReLU()
        Linear(1024, 10)
    }
    model.initializeParameters(seed: 1)
    optimizer = SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9)
    sampleShape = [784]
} else {
    model = DigitsExperiment.makeModel()
    model.initializeParameters(seed: 1)
    optimizer = Adam(parameters: model.parameters)
    sampleShape = [1, DigitsExperiment.side, DigitsExperiment.side]
}

/// This rank's share of 4 random global batches: N(0, 1) inputs, labels in 0..<10; every
/// rank draws the same global batches and keeps rows rank·b ..< (rank + 1)·b.
let pool: [(inputs: Tensor, labels: [Int32])] = {
    var generator = SeededGenerator(seed: 0)
    let sampleSize = sampleShape.reduce(1, *)
    return (0..<4).map { _ in
        let values = (0..<globalBatchSize * sampleSize).map { _ in generator.nextNormal() }
        let labels = (0..<globalBatchSize).map { _ in Int32.random(in: 0..<10, using: &generator) }
        let rows = world.rank * batchSize..<(world.rank + 1) * batchSize
        return (Tensor(shape: [batchSize] + sampleShape,
                       values: Array(values[rows.lowerBound * sampleSize..<rows.upperBound
                                                                             * sampleSize])),
                Array(labels[rows]))
    }
}()

do {
    let parallel = try DataParallel(model: model, world: world)
    let loss = SoftmaxCrossEntropy()
    var compute: [Double] = [], wait: [Double] = [], exchange: [Double] = [], total: [Double] = []
    var lastLoss: Float = 0
    /// One step; when `timed`, its parts are appended to compute, wait and exchange, and its
    /// time to total.
    func step(_ index: Int, timed: Bool) throws {
        let (inputs, labels) = pool[index % pool.count]
        let start = DispatchTime.now().uptimeNanoseconds
        optimizer.zeroGrad()
        lastLoss = try loss.forward(model.forward(inputs), labels: labels)
        model.accumulateParameterGradients(loss.backward())
        let backwardDone = DispatchTime.now().uptimeNanoseconds
        if world.size > 1 {
            lastLoss = try parallel.synchronize(loss: lastLoss, samples: batchSize)
        }
        let agreed = DispatchTime.now().uptimeNanoseconds
        if world.size > 1 {
            parallel.combineGradients(of: optimizer.parameters)
            parallel.broadcastBuffers()
        }
        let combined = DispatchTime.now().uptimeNanoseconds
        optimizer.step()
        let end = DispatchTime.now().uptimeNanoseconds
        if timed {
            compute.append(Double(backwardDone - start + end - combined) / 1e6)
            wait.append(Double(agreed - backwardDone) / 1e6)
            exchange.append(Double(combined - agreed) / 1e6)
            total.append(Double(end - start) / 1e6)
        }
    }
    for index in 0..<warmup { try step(index, timed: false) }
    let start = Date()
    for index in 0..<steps { try step(index, timed: true) }
    let perStep = Date().timeIntervalSince(start) / Double(steps) * 1000
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    try parallel.checkParametersAgree()
    if world.rank == 0 {
        let fields: [(String, String)] = [
            ("workload", "\"\(workload)\""), ("ranks", "\(world.size)"),
            ("threads", "\(Threads.count)"), ("batch", "\(globalBatchSize)"),
            ("steps", "\(steps)"), ("ms_per_step", String(format: "%.4f", perStep)),
            ("step_ms", String(format: "%.4f", median(total))),
            ("compute_ms", String(format: "%.4f", median(compute))),
            ("wait_ms", String(format: "%.4f", median(wait))),
            ("exchange_ms", String(format: "%.4f", median(exchange))),
            ("best_step_ms", String(format: "%.4f", total.min()!)),
            ("best_compute_ms", String(format: "%.4f", compute.min()!)),
            ("best_exchange_ms", String(format: "%.4f", exchange.min()!)),
            ("loss", "\(lastLoss)"),
        ]
        print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
    }
} catch {
    print("rank \(world.rank) stopped: \(error)")
    world.finalize()
    exit(1)
}
world.finalize()
