// distributed-checks: the scenarios DistributedTests launches with mpirun (and one without
// MPI, the single-process reference). Each prints lines the tests parse:
//   step N LOSS        (rank 0) the global mean loss of each step, as Float's bit pattern
//   hash H             (every rank) the parameters' hash after training
//   stopped: MESSAGE   (every rank) the agreed failure; the process then exits with 1
//
//   reference   plain Model.fit on one process, global batch 20, no shuffling, 7 epochs
//   fit         the same through DataParallel.fit on the ranks
//   reference-cnn, fit-cnn   the same for the digits CNN with Adam on 320 random 8×8 images,
//               global batch 32, cnnEpochs epochs
//   reference-extras, fit-extras   the spiral network with a learning-rate schedule and
//               penalties, one process and on the ranks (losses with the penalties)
//   reference-targets, fit-targets   a small regression network with Adam and mean squared
//               error on targets computed from the spiral's points, one process and on the ranks
//   resume DIR EPOCHS [resume]   fit-extras, shuffled, for EPOCHS epochs with checkpoints in
//               DIR; with "resume", from DIR's checkpoint (model loaded on every rank)
//   step-hook   DataParallel.fit whose beforeStep throws on rank 1 at step 5
//   graph       the same network as graph operations in a hand-written loop
//   fit-batchnorm  a network with BatchNorm through DataParallel.fit
//   nan-batchnorm  the same with rank 1's loss turning NaN at step 5; prints "rank R: fit
//               stopped: ERROR" and "rank R: batches tracked after the fault: N" (the
//               BatchNorm's count; every rank), then trains an epoch more on clean data and
//               prints "rank R: steps after the fault: FIRST to LAST" (the numbers onStep
//               got) and the hash as after a run
//   fit-nested-batchnorm  the same with BatchNorm layers nested in a Model and in a layer of
//               its own, rank 1 starting from other statistics and counts; prints
//               "statistics ..." (every rank) and whether a changed nested count and
//               statistic are caught by the hash
//   cpu-kinds   prints "kinds: ..." (every rank's GEMM architecture) and whether they are mixed
//   sum-order   on 3 ranks: gradients whose sum depends on the order of its additions, large
//               (summed in place) and small (in flat buckets); prints "rank R: N sums wrong"
//   mismatch, size-mismatch, count-mismatch, bad-label, nan-loss, failed-save, crash   the
//               faults
//   nested-mismatch   the fault of fit-nested-batchnorm's network without its inner Model on
//               rank 1
//   small-shard   fit on shards cut by hand, with dropLast: 12 samples on rank 0, 4 (fewer than
//               a rank's batch of 10) on rank 1
//   short-last-batch   fit on 21 samples in global batches of 20 (rank 1 has none of the last)
//   own-shards   agreeOnPlan for 40 samples cut unevenly by hand: 30 on rank 0, 10 on rank 1
//   optimizer-order, optimizer-subset, optimizer-plain   a hand-written loop whose rank 1
//               lists its DistributedOptimizer's parameters in another order, or one
//               parameter less, or steps a plain SGD
//   throw-after-synchronize   a hand-written loop whose rank 1 (alone: rank 0) throws
//               between its second step's agreement and the update
//   distributed-optimizer-fit   fit given a DistributedOptimizer
//   negative-global-batch   shard with a global batch of -20
//   zero-bucket   the hand-written loop of optimizer-order with a bucketSize of 0
//   bucket-mismatch, in-place-mismatch, bucket-max-mismatch   the same loop with rank 1's
//               bucketSize or inPlaceMinimum other than rank 0's (bucketSize Int.max)
//   epochs-mismatch, extra-step   ranks that take different numbers of steps: rank 1 trains one
//               epoch less with fit, or takes one step more in a hand-written loop
//   batch-mismatch   fit with rank 1 asking for another global batch, of as many steps
//   optimizer-mismatch   fit with rank 1's optimizer updating one parameter less
//   unreached   a hand-written loop whose parameters are reached by every rank's backward
//               pass, by rank 0's alone, or by none; prints "rank R: unreached unchanged: B,
//               reached changed: B"
//   no-parameters   a DataParallel for a model without parameters; prints "rank R: made;
//               accuracy without samples: RESULT" (of DataParallel.accuracy on no samples)
//   accuracy-mismatch   DataParallel.accuracy with one label too few on rank 1
import DeepLearning
import DigitsExperiment
import DistributedTraining
import SpiralExperiment
import Foundation

let scenario = CommandLine.arguments.dropFirst().first ?? ""
let network = SpiralExperiment()
let epochs = 7            // 15 steps an epoch: 105 steps
let globalBatchSize = 20
/// The CNN scenarios' epochs (10 steps each). Adam memorizing random labels amplifies the
/// last-bit differences between one process's sums and two ranks' (on Zen 3's AVX2 kernels
/// past 1e-5 relative from step 76 on), so the run stops where the losses still match that
/// closely.
let cnnEpochs = 5

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

/// A regression network (2 → 16 → 1, tanh), initialized from seed 3.
func regressionModel() -> Model {
    let model = Model {
        Linear(2, 16)
        Tanh()
        Linear(16, 1)
    }
    model.initializeParameters(seed: 3)
    return model
}

/// The regression's targets for `mixedSpiral()`'s points (x, y): sin(x) + y / 2, `[N, 1]`.
func regressionTargets(_ inputs: Tensor) -> Tensor {
    let points = inputs.values
    return Tensor(shape: [inputs.shape[0], 1], values: (0..<inputs.shape[0]).map {
        sin(points[2 * $0]) + points[2 * $0 + 1] / 2
    })
}

/// A layer written from operations whose `BatchNorm` is a sub-layer, as in the digits
/// example's `ResidualBlock`.
final class NormalizedLinear: Layer {
    let linear = Linear(16, 16), norm = BatchNorm(features: 16)
    func callAsFunction(_ x: Tensor) -> Tensor { relu(norm(linear(x))) }
}

/// A spiral network whose BatchNorm layers are nested: one in a `Model` inside the model (left
/// out without `innerModel`) and one in a `NormalizedLinear`.
func nestedBatchNormModel(innerModel: Bool) -> Model {
    Model {
        Linear(2, 16)
        if innerModel {
            Model {
                BatchNorm(features: 16)
                ReLU()
            }
        }
        NormalizedLinear()
        Linear(16, 3)
    }
}

/// Prints a step's loss, exactly.
func printStep(_ step: Int, _ loss: Float) {
    print("step \(step) \(loss.bitPattern)")
}

/// Prints each step's loss, numbered from 1 (`Model.fit`'s `beforeStep` in the single-process
/// references).
func stepPrinter() -> (_ loss: Float, _ samples: Int) -> Void {
    var steps = 0
    return { loss, _ in
        steps += 1
        printStep(steps, loss)
    }
}

/// The extras' schedule (halving the rate every 2 epochs) and penalties (L1 and L2 on the
/// weights of the spiral network's two `Linear` layers).
func extras(_ model: Model, _ optimizer: some Optimizer)
    -> (schedule: StepDecay, penalties: [Penalty])
{
    let weights = model.layers.compactMap { ($0 as? Linear)?.weight }
    return (StepDecay(optimizer: optimizer, stepSize: 2, gamma: 0.5),
            [Penalty(parameters: weights, l1: 1e-4, l2: 1e-3)])
}

if scenario == "reference" || scenario == "reference-extras" {
    let (inputs, labels) = mixedSpiral()
    let model = network.initializedModel()
    let optimizer = network.optimizer(for: model.parameters)
    let (schedule, penalties) = extras(model, optimizer)
    let withExtras = scenario == "reference-extras"
    try model.fit(inputs, labels: labels, optimizer: optimizer,
                  schedule: withExtras ? schedule : nil, epochs: epochs,
                  batchSize: globalBatchSize, shuffle: false,
                  penalties: withExtras ? penalties : [], beforeStep: stepPrinter())
    exit(0)
}
if scenario == "reference-targets" {
    let (inputs, _) = mixedSpiral()
    let model = regressionModel()
    try model.fit(inputs, targets: regressionTargets(inputs),
                  optimizer: Adam(parameters: model.parameters), epochs: epochs,
                  batchSize: globalBatchSize, shuffle: false, beforeStep: stepPrinter())
    exit(0)
}
if scenario == "reference-cnn" {
    let (inputs, labels) = randomImages()
    let model = digitsCNN()
    try model.fit(inputs, labels: labels, optimizer: Adam(parameters: model.parameters),
                  epochs: cnnEpochs, batchSize: 32, shuffle: false, beforeStep: stepPrinter())
    exit(0)
}

let world = World()
if scenario == "cpu-kinds" {
    print("kinds: \(world.cpuKindsDescription); mixed: \(world.hasMixedCPUKinds)")
    world.finalize()
    exit(0)
}
/// The error `step-hook`'s hook throws.
struct HookFailure: Error, CustomStringConvertible {
    var description: String { "the step hook failed" }
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

if scenario == "sum-order" {
    // Samples 2, 1, 1 weight the ranks' gradients 2, 2⁻²², 2⁻²² by 1/2, 1/4, 1/4: the
    // contributions 1, 2⁻²⁴, 2⁻²⁴ sum to 1 in rank order ((1 + 2⁻²⁴) + 2⁻²⁴, each a tie rounded
    // to even) but to 1 + 2⁻²³ when the last two are added first.
    let tensors = [Tensor(shape: [70_000]), Tensor(shape: [5]), Tensor(shape: [1])]
    let contribution: Float = world.rank == 0 ? 2 : 0x1p-22
    for tensor in tensors {
        tensor.withUnsafeMutableGradientBufferPointer { $0.update(repeating: contribution) }
    }
    running {
        let parallel = try DataParallel(parameters: tensors, world: world)
        parallel.bucketSize = 10_007  // buckets of uneven chunks
        _ = try parallel.synchronize(loss: 0, samples: world.rank == 0 ? 2 : 1)
        parallel.combineGradients(of: tensors)
    }
    let wrong = tensors.reduce(0) { wrong, tensor in
        wrong + tensor.withUnsafeGradientBufferPointer { $0.filter { $0 != 1 }.count }
    }
    print("rank \(world.rank): \(wrong) sums wrong")
    world.finalize()
    exit(0)
}

if scenario == "unreached" {
    // w reached on every rank, v on rank 0 alone, u (summed in place) and s (in a flat
    // bucket) on none; SGD with weight decay moves every parameter that has a gradient.
    let (w, v) = (Tensor(shape: [3], values: [1, 2, 3]), Tensor(shape: [2], values: [4, 5]))
    let (u, s) = (Tensor(shape: [5], values: [6, 7, 8, 9, 10]), Tensor(shape: [1], values: [11]))
    let tensors = [w, v, u, s]
    for tensor in tensors { tensor.requiresGradient = true }
    running {
        let parallel = try DataParallel(parameters: tensors, world: world)
        parallel.inPlaceMinimum = 4
        let optimizer = DistributedOptimizer(
            wrapping: SGD(parameters: tensors, learningRate: 0.1, momentum: 0.9, weightDecay: 0.1),
            parallel: parallel)
        try parallel.run {
            for _ in 0..<3 {
                let loss = world.rank == 0 ? (w * w).sum() + (v * v).sum() : (w * w).sum()
                _ = try parallel.synchronize(loss: loss.scalar, samples: 1)
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
        }
        try parallel.checkParametersAgree()
    }
    let unchanged = u.values == [6, 7, 8, 9, 10] && s.values == [11]
    let changed = w.values != [1, 2, 3] && v.values != [4, 5]
    print("rank \(world.rank): unreached unchanged: \(unchanged), reached changed: \(changed)")
    world.finalize()
    exit(0)
}
if ["extra-step", "optimizer-order", "optimizer-subset", "optimizer-plain",
    "throw-after-synchronize", "zero-bucket", "bucket-mismatch", "in-place-mismatch",
    "bucket-max-mismatch"]
    .contains(scenario)
{
    // A hand-written loop over w and v whose rank 1 takes one step more than rank 0, lists
    // the parameters of its DistributedOptimizer in another order or leaves v out, steps a
    // plain SGD, throws between its second step's agreement and the update, or sets other
    // buckets; or whose buckets hold no float. Alone, the only rank is rank 1's part.
    let w = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
    let v = Tensor(shape: [3], values: [4, 5, 6], requiresGradient: true)
    let spoilt = world.rank == 1 || world.size == 1
    let updated = spoilt && scenario == "optimizer-order" ? [v, w]
        : spoilt && scenario == "optimizer-subset" ? [w] : [w, v]
    running {
        let parallel = try DataParallel(parameters: [w, v], world: world)
        if scenario == "zero-bucket" { parallel.bucketSize = 0 }
        if spoilt && scenario == "bucket-mismatch" { parallel.bucketSize = 2 }
        if spoilt && scenario == "in-place-mismatch" { parallel.inPlaceMinimum = 3 }
        if spoilt && scenario == "bucket-max-mismatch" { parallel.bucketSize = .max }
        let plain = SGD(parameters: updated, learningRate: 0.1)
        let optimizer: any Optimizer = spoilt && scenario == "optimizer-plain" ? plain
            : DistributedOptimizer(wrapping: plain, parallel: parallel)
        try parallel.run {
            for step in 1...(spoilt && scenario == "extra-step" ? 4 : 3) {
                let loss = (w * w).sum() + (v * v * v).sum()
                _ = try parallel.synchronize(loss: loss.scalar, samples: 1)
                if spoilt && scenario == "throw-after-synchronize" && step == 2 {
                    throw HookFailure()
                }
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
            }
        }
        try parallel.checkParametersAgree()
    }
    world.finalize()
    exit(0)
}
if scenario == "negative-global-batch" {
    let (inputs, labels) = mixedSpiral()
    running {
        let parallel = try DataParallel(parameters: [], world: world)
        let share = try parallel.shard(inputs, labels: labels, globalBatchSize: -20)
        print("rank \(world.rank): a share of \(share.labels.count) samples")
    }
    world.finalize()
    exit(0)
}
if scenario == "no-parameters" {
    running {
        let model = Model { ReLU() }
        let parallel = try DataParallel(model: model, world: world)
        try parallel.checkParametersAgree()
        let empty = Result { try parallel.accuracy(of: model, Tensor(shape: [0, 3]), labels: []) }
        print("rank \(world.rank): made; accuracy without samples: \(empty)")
    }
    world.finalize()
    exit(0)
}

running {
    var (inputs, labels) = mixedSpiral()
    var settings = network
    if scenario == "mismatch" && world.rank == 1 { settings.hiddenUnits = 50 }
    if scenario == "size-mismatch" && world.rank == 1 {
        inputs = inputs.rows(0..<280)
        labels = Array(labels[0..<280])
    }
    if scenario == "count-mismatch" && world.rank == 1 { labels.removeLast() }
    let model: Model
    if scenario == "fit-cnn" {
        (inputs, labels) = randomImages()
        model = digitsCNN()
    } else if scenario == "fit-targets" {
        model = regressionModel()
    } else if scenario == "fit-batchnorm" || scenario == "nan-batchnorm" {
        model = Model {
            Linear(2, 32)
            BatchNorm(features: 32)
            ReLU()
            Linear(32, 3)
        }
        model.initializeParameters(seed: UInt64(world.rank))  // rank 0's must win
    } else if scenario == "fit-nested-batchnorm" || scenario == "nested-mismatch" {
        model = nestedBatchNormModel(innerModel: scenario == "fit-nested-batchnorm"
                                         || world.rank == 0)
        model.initializeParameters(seed: UInt64(world.rank))
        if world.rank == 1 {  // rank 0's statistics and counts must win
            for (_, layer) in model.layerTree {
                for (_, buffer) in layer.namedBuffers {
                    buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 2) }
                }
                for (_, counter) in layer.namedCounters { counter.value = 5 }
            }
        }
    } else {
        model = settings.initializedModel()
    }
    let parallel = try DataParallel(model: model, world: world)
    if world.rank == 0 { parallel.onStep = printStep }
    if scenario == "crash" {
        let rank = world.rank
        parallel.onStep = { step, _ in if step == 5 && rank == 1 { abort() } }
    }
    let optimizer: any Optimizer = scenario == "fit-cnn" || scenario == "fit-targets"
        ? Adam(parameters: model.parameters) : settings.optimizer(for: model.parameters)

    if scenario == "graph" {
        let distributed = DistributedOptimizer(wrapping: optimizer, parallel: parallel)
        for parameter in model.parameters { parameter.requiresGradient = true }
        let (w1, b1, w2, b2) = (model.parameters[0], model.parameters[1], model.parameters[2],
                                model.parameters[3])
        let (shardInputs, shardLabels) = try parallel.shard(inputs, labels: labels,
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
    } else if scenario == "fit-extras" || scenario == "resume" {
        let (schedule, penalties) = extras(model, optimizer)
        // resume DIR EPOCHS [resume]
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        let resumes = scenario == "resume"
        let files = resumes ? Checkpointing(modelPath: arguments[0] + "/model.safetensors",
                                            checkpointPath: arguments[0] + "/run.checkpoint")
            : nil
        let resuming = resumes && arguments.count > 2 && arguments[2] == "resume"
        if resuming { try model.load(from: files!.modelPath) }
        try parallel.fit(model, inputs: inputs, labels: labels, optimizer: optimizer,
                         schedule: schedule, epochs: resumes ? Int(arguments[1])! : epochs,
                         globalBatchSize: globalBatchSize, shuffle: resumes,
                         penalties: penalties, checkpoints: files,
                         resumingFrom: resuming ? files!.checkpointPath : nil)
    } else if scenario == "fit-targets" {
        try parallel.fit(model, inputs: inputs, targets: regressionTargets(inputs),
                         optimizer: optimizer, epochs: epochs, globalBatchSize: globalBatchSize,
                         shuffle: false)
    } else if scenario == "epochs-mismatch" {
        try parallel.fit(model, inputs: inputs, labels: labels, optimizer: optimizer,
                         epochs: world.rank == 1 ? epochs - 1 : epochs,
                         globalBatchSize: globalBatchSize)
    } else if scenario == "batch-mismatch" {
        // On 100 samples, global batches of 20 and of 22 both take 5 steps an epoch.
        try parallel.fit(model, inputs: inputs.rows(0..<100), labels: Array(labels[0..<100]),
                         optimizer: optimizer, epochs: epochs,
                         globalBatchSize: world.rank == 1 ? 22 : globalBatchSize)
    } else if scenario == "optimizer-mismatch" {
        // Rank 1's optimizer leaves out the last layer's bias.
        let parameters = world.rank == 1 ? Array(model.parameters.dropLast()) : model.parameters
        try parallel.fit(model, inputs: inputs, labels: labels,
                         optimizer: SGD(parameters: parameters, learningRate: 0.1),
                         epochs: epochs, globalBatchSize: globalBatchSize)
    } else if scenario == "distributed-optimizer-fit" {
        // fit, which combines the gradients itself, given a DistributedOptimizer.
        try parallel.fit(model, inputs: inputs, labels: labels,
                         optimizer: DistributedOptimizer(wrapping: optimizer, parallel: parallel),
                         epochs: epochs, globalBatchSize: globalBatchSize)
    } else if scenario == "own-shards" {
        // Batches of 10: rank 0 takes 3 steps, rank 1 one; every global batch is whole.
        try parallel.agreeOnPlan(samples: world.rank == 1 ? 10 : 30, batchSize: 10,
                                 dropLast: false, wholeDataSetSamples: 40)
    } else if scenario == "small-shard" {
        // Shards cut by hand, with dropLast, in batches of 10: rank 0's 12 samples make one
        // batch (2 left out), rank 1's 4 make one batch of 4 (the loader's batch of a shard
        // smaller than the batch size): one step an epoch on every rank.
        let rows = world.rank == 0 ? 0..<12 : 12..<16
        try parallel.fit(model, inputs: inputs.rows(rows), labels: Array(labels[rows]),
                         holding: .shard, optimizer: optimizer, epochs: epochs,
                         globalBatchSize: globalBatchSize, dropLast: true)
    } else if scenario == "short-last-batch" {
        // 21 samples in global batches of 20: the last global batch has none for rank 1.
        try parallel.fit(model, inputs: inputs.rows(0..<21), labels: Array(labels[0..<21]),
                         optimizer: optimizer, epochs: epochs, globalBatchSize: globalBatchSize)
    } else if scenario == "nan-batchnorm" {
        // Rank 1's loss turns NaN at its 5th step: after the fault, every rank's parameters
        // and running statistics are still rank 0's.
        (inputs, labels) = try parallel.shard(inputs, labels: labels,
                                              globalBatchSize: globalBatchSize)
        if world.rank == 1 { inputs.withUnsafeMutableBufferPointer { $0[2 * 45] = .nan } }
        do {
            try parallel.fit(model, inputs: inputs, labels: labels, holding: .shard,
                             optimizer: optimizer, epochs: epochs,
                             globalBatchSize: globalBatchSize, shuffle: false)
        } catch {
            print("rank \(world.rank): fit stopped: \(error)")
        }
        let batchesTracked = model.layers[1].namedCounters[0].counter.value
        print("rank \(world.rank): batches tracked after the fault: \(batchesTracked)")
        // Training on goes on counting from the last step taken, on every rank.
        let clean = try parallel.shard(mixedSpiral().inputs, labels: mixedSpiral().labels,
                                       globalBatchSize: globalBatchSize)
        var numbers: [Int] = []
        parallel.onStep = { step, _ in numbers.append(step) }
        try parallel.fit(model, inputs: clean.inputs, labels: clean.labels, holding: .shard,
                         optimizer: optimizer, epochs: 1, globalBatchSize: globalBatchSize,
                         shuffle: false)
        print("rank \(world.rank): steps after the fault: \(numbers.first!) to \(numbers.last!)")
    } else if scenario == "accuracy-mismatch" {
        let (shardInputs, shardLabels) = try parallel.shard(inputs, labels: labels,
                                                            globalBatchSize: globalBatchSize)
        let accuracy = try parallel.accuracy(
            of: model, shardInputs, labels: world.rank == 1 ? shardLabels.dropLast() : shardLabels)
        print("rank \(world.rank): accuracy \(accuracy)")
    } else if scenario == "step-hook" {
        let rank = world.rank
        var steps = 0
        try parallel.fit(model, inputs: inputs, labels: labels, optimizer: optimizer,
                         epochs: epochs, globalBatchSize: globalBatchSize,
                         beforeStep: { _, _ in
                             steps += 1
                             if rank == 1 && steps == 5 { throw HookFailure() }
                         })
    } else {
        var placement = DataPlacement.wholeDataSet
        if scenario == "bad-label" || scenario == "nan-loss" {
            // Each rank passes only its shard; rank 1's is spoilt.
            (inputs, labels) = try parallel.shard(inputs, labels: labels,
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
                         optimizer: optimizer, epochs: cnn ? cnnEpochs : epochs,
                         globalBatchSize: cnn ? 32 : globalBatchSize,
                         shuffle: scenario.hasSuffix("batchnorm"), checkpoints: checkpoints)
    }
    try parallel.checkParametersAgree()
    print("hash \(String(parallel.parameterHash, radix: 16))")
    if scenario == "fit-nested-batchnorm" {
        let statistics = model.layerTree.flatMap { _, layer in
            layer.namedBuffers.flatMap { $0.tensor.values.map { String($0.bitPattern) } }
                + layer.namedCounters.map { String($0.counter.value) }
        }
        print("statistics \(statistics.joined(separator: " "))")
        // The hash covers the nested counts and statistics: one changed on rank 1 is caught.
        let norm = (model.layers[2] as! NormalizedLinear).norm
        if world.rank == 1 { norm.batchesTracked.value += 1 }
        print("changed count caught: \((try? parallel.checkParametersAgree()) == nil)")
        if world.rank == 1 {
            norm.batchesTracked.value -= 1
            norm.runningMean.withUnsafeMutableBufferPointer { $0[0] += 1 }
        }
        print("changed statistic caught: \((try? parallel.checkParametersAgree()) == nil)")
    }
}
world.finalize()
