// distributed-checks: the scenarios DistributedTests launches with mpirun (and one without
// MPI, the single-process reference). Each prints lines the tests parse:
//   step N LOSS        (rank 0) the global mean loss of each step, as Float's bit pattern
//   hash H             (every rank) the parameters' hash after training
//   stopped: MESSAGE   (every rank) the agreed failure; the process then exits with 1
//
//   reference   plain Model.fit on one process, global batch 20, no shuffling, 7 epochs
//   fit         the same through DataParallel.fit on the ranks
//   reference-cnn, fit-cnn   the same for the digits CNN with Adam on 320 random 8×8 images,
//               global batch 32, 10 epochs
//   graph       the same network as graph operations in a hand-written loop
//   fit-batchnorm  a network with BatchNorm through DataParallel.fit
//   cpu-kinds   prints "kinds: ..." (every rank's GEMM architecture) and whether they are mixed
//   mismatch, size-mismatch, bad-label, nan-loss, failed-save, crash   the faults
import DeepLearning
import DigitsExperiment
import DistributedExperiments
import DistributedTraining
import SpiralExperiment
import Foundation

let scenario = CommandLine.arguments.dropFirst().first ?? ""
let network = SpiralExperiment()
let epochs = 7            // 15 steps an epoch: 105 steps
let globalBatchSize = 20

/// The spiral's points in one fixed random order (`spiral` lists them class by class), so that
/// every batch mixes the classes, as the same on every rank and in the reference.
func mixedSpiral() -> (inputs: Tensor, labels: [Int32]) {
    let (inputs, labels) = network.data()
    var generator = SeededGenerator(seed: 5)
    let order = labels.indices.shuffled(using: &generator)
    let points = inputs.values
    let mixed = Tensor(shape: inputs.shape, values: order.flatMap { points[2 * $0..<2 * $0 + 2] })
    return (mixed, order.map { labels[$0] })
}

/// The digits example's CNN, initialized from seed 1.
func digitsCNN() -> Model {
    let model = DigitsExperiment.makeModel()
    model.initializeParameters(seed: 1)
    return model
}

/// 320 random 8×8 images with pixels in [0, 1) and random classes of 10.
func randomImages() -> (inputs: Tensor, labels: [Int32]) {
    var generator = SeededGenerator(seed: 9)
    let inputs = Tensor(shape: [320, 1, 8, 8],
                        values: (0..<320 * 64).map { _ in Float.random(in: 0..<1, using: &generator) })
    return (inputs, (0..<320).map { _ in Int32.random(in: 0..<10, using: &generator) })
}

/// Prints a step's loss, exactly.
func printStep(_ step: Int, _ loss: Float) {
    print("step \(step) \(loss.bitPattern)")
}

/// A loss that reports every value it computes (the single-process reference).
final class RecordingLoss: Loss {
    let wrapped = SoftmaxCrossEntropy()
    var steps = 0
    func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws -> Float {
        let value = try wrapped.forward(output, labels: labels)
        steps += 1
        printStep(steps, value)
        return value
    }
    func backward() -> Tensor { wrapped.backward() }
}

if scenario == "reference" {
    let (inputs, labels) = mixedSpiral()
    let model = network.initializedModel()
    try model.fit(inputs, labels: labels, loss: RecordingLoss(),
                  optimizer: network.optimizer(for: model.parameters), epochs: epochs,
                  batchSize: globalBatchSize, shuffle: false)
    exit(0)
}
if scenario == "reference-cnn" {
    let (inputs, labels) = randomImages()
    let model = digitsCNN()
    try model.fit(inputs, labels: labels, loss: RecordingLoss(),
                  optimizer: Adam(parameters: model.parameters), epochs: 10, batchSize: 32,
                  shuffle: false)
    exit(0)
}

let world = World()
if scenario == "cpu-kinds" {
    print("kinds: \(world.cpuKindsDescription); mixed: \(world.hasMixedCPUKinds)")
    world.finalize()
    exit(0)
}
/// Runs `body`; on an error prints it and ends this rank with status 1.
@MainActor func running(_ body: () throws -> Void) {
    do {
        try body()
    } catch {
        print("rank \(world.rank) stopped: \(error)")
        world.finalize()
        exit(1)
    }
}

running {
    var (inputs, labels) = mixedSpiral()
    var settings = network
    if scenario == "mismatch" && world.rank == 1 { settings.hiddenUnits = 50 }
    if scenario == "size-mismatch" && world.rank == 1 {
        inputs = inputs.rows(0..<280)
        labels = Array(labels[0..<280])
    }
    let model: Model
    if scenario == "fit-cnn" {
        (inputs, labels) = randomImages()
        model = digitsCNN()
    } else if scenario == "fit-batchnorm" {
        model = Model {
            Linear(2, 32)
            BatchNorm(features: 32)
            ReLU()
            Linear(32, 3)
        }
        model.initializeParameters(seed: UInt64(world.rank))  // rank 0's must win
    } else {
        model = settings.initializedModel()
    }
    let parallel = try DataParallel(model: model, world: world)
    if world.rank == 0 { parallel.onStep = printStep }
    if scenario == "crash" {
        let rank = world.rank
        parallel.onStep = { step, _ in if step == 5 && rank == 1 { abort() } }
    }
    let optimizer: any Optimizer = scenario == "fit-cnn"
        ? Adam(parameters: model.parameters) : settings.optimizer(for: model.parameters)

    if scenario == "graph" {
        let distributed = DistributedOptimizer(wrapping: optimizer, parallel: parallel)
        for parameter in model.parameters { parameter.requiresGradient = true }
        let (w1, b1, w2, b2) = (model.parameters[0], model.parameters[1], model.parameters[2],
                                model.parameters[3])
        let (shardInputs, shardLabels) = parallel.shard(inputs, labels: labels,
                                                        globalBatchSize: globalBatchSize)
        let batchSize = globalBatchSize / world.size
        try parallel.run {
            for _ in 0..<epochs {
                for start in stride(from: 0, to: shardLabels.count, by: batchSize) {
                    let rows = start..<min(start + batchSize, shardLabels.count)
                    let logits = matmul(relu(matmul(shardInputs.rows(rows), w1) + b1), w2) + b2
                    let loss = try crossEntropy(logits, labels: Array(shardLabels[rows]))
                    _ = try parallel.synchronize(loss: loss.scalar, samples: rows.count)
                    distributed.zeroGrad()
                    loss.backward()
                    distributed.step()
                }
            }
        }
    } else {
        var placement = DataPlacement.wholeDataSet
        if scenario == "bad-label" || scenario == "nan-loss" {
            // Each rank passes only its shard; rank 1's is spoilt.
            (inputs, labels) = parallel.shard(inputs, labels: labels,
                                              globalBatchSize: globalBatchSize)
            placement = .shard
            if world.rank == 1 && scenario == "bad-label" { labels[37] = 7 }
            if world.rank == 1 && scenario == "nan-loss" { inputs.withUnsafeMutableBufferPointer { $0[2 * 45] = .nan } }
        }
        let checkpoints = scenario == "failed-save"
            ? Checkpointing(modelPath: "/nonexistent-directory/model.safetensors",
                            checkpointPath: "/nonexistent-directory/run.checkpoint", every: 2)
            : nil
        let cnn = scenario == "fit-cnn"
        try parallel.fit(model, inputs: inputs, labels: labels, holding: placement,
                         optimizer: optimizer, epochs: cnn ? 10 : epochs,
                         globalBatchSize: cnn ? 32 : globalBatchSize,
                         shuffle: scenario == "fit-batchnorm", checkpoints: checkpoints)
    }
    try parallel.checkParametersAgree()
    print("hash \(String(parallel.parameterHash, radix: 16))")
}
world.finalize()
