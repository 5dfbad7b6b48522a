// The graph (operations recorded for `backward()`) timed against what it must keep up with,
// in one process, in interleaved rounds (the contenders alternate, who goes first rotates),
// medians over rounds:
//   tiny     forward plus backward of operations on one-element tensors: a chain of
//            multiply-adds, and the article's y = sin(x1) + x1·x2 (µs per operation)
//   spiral   Linear(2,100) → ReLU → Linear(100,3), cross-entropy, SGD, written with
//            operations, against the fused `Model.fit` on the same data, batches and seed
//   mlp      784-1024-1024-10 at batch 256 with operations, against the layers' step (the
//            one `fit` runs)
//
//     swift run -c release --package-path Benchmarks graph [--rounds N] [--workloads tiny,spiral,mlp]
//                                                          [--thread-time] [--threads N]
import BenchmarkArguments
import BenchmarkMachine
import DeepLearning
import Foundation
import SpiralExperiment

/// Command-line options.
struct Options {
    var rounds = 7
    var workloads: Set<String> = ["tiny", "spiral", "mlp"]
    /// Time by this thread's CPU time instead of the wall clock: on a loaded machine it leaves
    /// out the time other processes held the core. Only for work on this thread alone: the
    /// tiny operations and the spiral (below the kernels' serial threshold), the MLP with
    /// `--threads 1`.
    var threadTime = false

    static let usage = """
        usage: graph [--rounds N] [--workloads tiny,spiral,mlp] [--thread-time] [--threads N]
        """

    init() {
        var arguments = ArgumentReader(program: "graph", usage: Options.usage)
        while let argument = arguments.next() {
            switch argument {
            case "--rounds": rounds = arguments.positiveInteger(for: argument)
            case "--workloads":
                workloads = Set(arguments.value(for: argument).split(separator: ",").map(String.init))
            case "--thread-time": threadTime = true
            case "--threads": Threads.count = arguments.positiveInteger(for: argument)
            default: arguments.fail("unknown argument \(argument)")
            }
        }
    }
}

let options = Options()
let (rounds, workloads, threadTime) = (options.rounds, options.workloads, options.threadTime)

func seconds(of body: () throws -> Void) rethrows -> Double {
    try BenchmarkMachine.seconds(threadCPUTime: threadTime, of: body)
}

/// The median and the fastest and slowest round against it, in per cent.
func summary(_ values: [Double]) -> (median: Double, spread: String) {
    let sorted = values.sorted()
    let median = sorted[sorted.count / 2]
    let low = Int(((sorted.first! / median - 1) * 100).rounded())
    let high = Int(((sorted.last! / median - 1) * 100).rounded())
    return (median, "\(low)/+\(high)%")
}

/// Runs the contenders `rounds` times, alternately (who goes first rotates), after one warm-up
/// call each; each call returns its time per unit (µs). Prints each one's median with its
/// spread and its ratio to the first contender, and the machine's load meanwhile.
func compare(_ title: String, unit: String, _ contenders: [(name: String, run: () throws -> Double)]) throws {
    for contender in contenders { _ = try contender.run() }
    var times = [[Double]](repeating: [], count: contenders.count)
    let start = CPUTimes()
    for round in 0..<rounds {
        for offset in 0..<contenders.count {
            let index = (round + offset) % contenders.count
            times[index].append(try contenders[index].run())
        }
    }
    let others = CPUTimes().otherProcesses(since: start)
    let results = times.map { summary($0) }
    print("\(title)  [\(rounds) rounds, \(Threads.count) threads\(threadTime ? ", thread CPU time" : ""); other processes kept \(String(format: "%.2f", others)) of \(ProcessInfo.processInfo.activeProcessorCount) cores busy; load average \(loadAverage())]")
    for (contender, result) in zip(contenders, results) {
        let name = contender.name.padding(toLength: 44, withPad: " ", startingAt: 0)
        let median = String(format: "%10.3f", result.median)
        let spread = result.spread.padding(toLength: 10, withPad: " ", startingAt: 0)
        let ratio = String(format: "%.2f", result.median / results[0].median)
        print("  \(name) \(median) \(unit)  spread \(spread) ×\(ratio)")
    }
}

// MARK: Tiny operations

/// y ← y·a + b, `length` times, then backward: 2·length operations.
func multiplyAddChain(length: Int) {
    let a = Tensor(1.0001, requiresGradient: true), b = Tensor(0.001, requiresGradient: true)
    var y = Tensor(0.5, requiresGradient: true)
    for _ in 0..<length { y = y * a + b }
    y.backward()
}

/// The article's expression with its backward pass: 3 operations.
func articleExpression() {
    let x1 = Tensor(2, requiresGradient: true), x2 = Tensor(5, requiresGradient: true)
    let y = sin(x1) + x1 * x2
    y.backward()
}

if workloads.contains("tiny") {
    let chains = 200, length = 50, expressions = 10_000
    try compare("tiny tensors (shape []), forward + backward", unit: "µs/op", [
        ("chain of 50 multiply-adds (100 operations)", {
            seconds { for _ in 0..<chains { multiplyAddChain(length: length) } }
                / Double(chains * 2 * length) * 1e6
        }),
        ("y = sin(x1) + x1·x2 (3 operations)", {
            seconds { for _ in 0..<expressions { articleExpression() } }
                / Double(expressions * 3) * 1e6
        }),
    ])
}

// MARK: Spiral

if workloads.contains("spiral") {
    let configuration = SpiralExperiment()
    let (inputs, labels) = spiral(pointsPerClass: configuration.pointsPerClass,
                                  classes: configuration.classes, seed: 0)
    let seed: UInt64 = 1
    func model() -> Model {
        let model = Model {
            Linear(2, configuration.hiddenUnits)
            ReLU()
            Linear(configuration.hiddenUnits, configuration.classes)
        }
        model.initializeParameters(seed: seed)
        return model
    }
    func sgd(_ parameters: [Tensor]) -> SGD {
        SGD(parameters: parameters, learningRate: configuration.learningRate,
            momentum: configuration.momentum, weightDecay: configuration.weightDecay)
    }
    let batches = (inputs.shape[0] + configuration.batchSize - 1) / configuration.batchSize
    let steps = Double(configuration.epochs * batches)
    var fitLosses: [Float] = [], graphLosses: [Float] = []
    func fit() throws -> Double {
        let model = model(), optimizer = sgd(model.parameters)
        return try seconds {
            fitLosses = try model.fit(inputs, labels: labels, optimizer: optimizer,
                                      epochs: configuration.epochs,
                                      batchSize: configuration.batchSize, seed: seed)
        } / steps * 1e6
    }
    /// The same network, data, batches and initial parameters, with operations.
    func graph() throws -> Double {
        let p = model().parameters.map {
            Tensor(shape: $0.shape, values: $0.values, requiresGradient: true)
        }
        let optimizer = sgd(p)
        return try seconds {
            let loader = try MiniBatchLoader(inputs: inputs, labels: labels,
                                             batchSize: configuration.batchSize, seed: seed)
            graphLosses = []
            for _ in 0..<configuration.epochs {
                var sum = 0.0
                try loader.forEachBatch { _, x, batchLabels in
                    let logits = matmul(relu(matmul(x, p[0]) + p[1]), p[2]) + p[3]
                    let loss = try crossEntropy(logits, labels: Array(batchLabels))
                    optimizer.zeroGrad()
                    loss.backward()
                    optimizer.step()
                    sum += Double(loss.scalar) * Double(batchLabels.count)
                }
                graphLosses.append(Float(sum / Double(inputs.shape[0])))
            }
        } / steps * 1e6
    }
    try compare("spiral 2-100-3, batch 20, \(Int(steps)) steps of SGD (momentum, weight decay)",
                unit: "µs/step", [("fused Model.fit", fit), ("operations", graph)])
    let same = fitLosses.map(\.bitPattern) == graphLosses.map(\.bitPattern)
    let drift = zip(fitLosses, graphLosses).map { abs($0 - $1) / abs($0) }.max() ?? 0
    print("  epoch losses: \(same ? "the same bits" : "differ, at most \(drift) relative"); last \(fitLosses.last!) (fit), \(graphLosses.last!) (operations)")
}

// MARK: MLP

if workloads.contains("mlp") {
    let batch = 256, stepsPerRound = 8
    var generator = SeededGenerator(seed: 0)
    // The `training` benchmark's MLP (Linear → ReLU → Linear → ReLU → Linear), same seeds.
    let widths = [784, 1024, 1024, 10]
    let model = Model(zip(widths, widths.dropFirst()).enumerated().flatMap {
        index, sizes -> [any Function] in
        let layer = Linear(sizes.0, sizes.1)
        return index == 0 ? [layer] : [ReLU(), layer]
    })
    model.initializeParameters(seed: 1)
    let p = model.parameters.map { Tensor(shape: $0.shape, values: $0.values, requiresGradient: true) }
    let layerOptimizer = SGD(parameters: model.parameters, learningRate: 0.01, momentum: 0.9)
    let graphOptimizer = SGD(parameters: p, learningRate: 0.01, momentum: 0.9)
    let loss = SoftmaxCrossEntropy()
    let pool: [(Tensor, [Int32])] = (0..<4).map { _ in
        (Tensor(shape: [batch, 784], values: (0..<batch * 784).map { _ in generator.nextNormal() }),
         (0..<batch).map { _ in Int32.random(in: 0..<10, using: &generator) })
    }
    var layerStep = 0, graphStep = 0
    var layerLoss: Float = 0, graphLoss: Float = 0
    func layers() throws -> Double {
        try seconds {
            for _ in 0..<stepsPerRound {
                let (x, labels) = pool[layerStep % pool.count]
                layerStep += 1
                layerOptimizer.zeroGrad()
                layerLoss = try loss.forward(model.forward(x), labels: labels)
                model.accumulateParameterGradients(loss.backward(), thenStep: layerOptimizer)
            }
        } / Double(stepsPerRound * batch)
    }
    func graph() throws -> Double {
        try seconds {
            for _ in 0..<stepsPerRound {
                let (x, labels) = pool[graphStep % pool.count]
                graphStep += 1
                let h1 = relu(matmul(x, p[0]) + p[1])
                let h2 = relu(matmul(h1, p[2]) + p[3])
                let value = try crossEntropy(matmul(h2, p[4]) + p[5], labels: labels)
                graphOptimizer.zeroGrad()
                value.backward()
                graphOptimizer.step()
                graphLoss = value.scalar
            }
        } / Double(stepsPerRound * batch)
    }
    // Seconds per sample, printed as µs per sample; samples per second = 1e6 / that.
    try compare("MLP 784-1024-1024-10, batch 256, SGD momentum (\(stepsPerRound) steps a round)",
                unit: "µs/sample", [("layers' step (fit's)", { try layers() * 1e6 }),
                                    ("operations", { try graph() * 1e6 })])
    print("  after the same steps: loss \(layerLoss) (layers), \(graphLoss) (operations)")
}
