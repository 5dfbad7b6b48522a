import ArgumentParser
import Foundation
import DeepLearning
import SpiralExperiment

extension SpiralExperiment.WeightInitialization: ExpressibleByArgument {}

/// `swift run -c release --package-path Examples spiral`: trains the article's network on the spiral data, prints its
/// accuracy, loss and time, and draws its decision regions.
@main
struct SpiralCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spiral",
        abstract: "Train a one-hidden-layer network on the 3-class spiral and draw its decision regions.")

    @Option(help: "Passes over the data (at most \(maximumEpochs)).") var epochs = 200
    @Option(help: "Samples per mini-batch.") var batchSize = 20
    @Option(help: "Units in the hidden layer (at most \(maximumHiddenUnits)).") var hiddenUnits = 100
    @Option(help: "SGD step size.") var learningRate: Float = 0.1
    @Option(help: "SGD momentum (0 for plain SGD).") var momentum: Float = 0.9
    @Option(help: "SGD weight decay (L2 factor).") var weightDecay: Float = 0.001
    @Option(name: .customLong("init"), help: "Weight initialization: he, article (N(0, 0.01²)) or glorot.")
    var initialization = SpiralExperiment.WeightInitialization.he
    @Option(help: "Seed of the data, the initial weights and the shuffling.") var seed: UInt64 = 0
    @Option(help: "Threads for the kernels, at most \(maximumThreads) (default: OMP_NUM_THREADS or all processors).")
    var threads: Int?
    @Option(help: "Where to write the picture.") var output = "spiral.png"

    /// Bounds that keep the options within what the machine can run, with a message instead of
    /// a crash (an overflowing shape, a thread count beyond Int32).
    static let maximumEpochs = 1_000_000
    static let maximumHiddenUnits = 100_000
    static let maximumThreads = 1024

    func validate() throws {
        if !(1...Self.maximumEpochs).contains(epochs) {
            throw ValidationError("--epochs must be in 1...\(Self.maximumEpochs), got \(epochs)")
        }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if !(1...Self.maximumHiddenUnits).contains(hiddenUnits) {
            throw ValidationError("--hidden-units must be in 1...\(Self.maximumHiddenUnits), got \(hiddenUnits)")
        }
        if !(learningRate.isFinite && learningRate > 0) {
            throw ValidationError("--learning-rate must be a positive number, got \(learningRate)")
        }
        if !(momentum.isFinite && momentum >= 0) {
            throw ValidationError("--momentum must be a number >= 0, got \(momentum)")
        }
        if !(weightDecay.isFinite && weightDecay >= 0) {
            throw ValidationError("--weight-decay must be a number >= 0, got \(weightDecay)")
        }
        if let threads, !(1...Self.maximumThreads).contains(threads) {
            throw ValidationError("--threads must be in 1...\(Self.maximumThreads), got \(threads)")
        }
        if output.isEmpty { throw ValidationError("--output must name a file") }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        var experiment = SpiralExperiment()
        experiment.epochs = epochs
        experiment.batchSize = batchSize
        experiment.hiddenUnits = hiddenUnits
        experiment.learningRate = learningRate
        experiment.momentum = momentum
        experiment.weightDecay = weightDecay
        experiment.weightInitialization = initialization
        experiment.seed = seed

        print("Training Linear(2 → \(hiddenUnits)) → ReLU → Linear(\(hiddenUnits) → 3) on 300 spiral points, \(Threads.count) thread(s)")
        let reportEvery = max(1, epochs / 10)
        let clock = ContinuousClock()
        var result: SpiralExperiment.Result?
        let elapsed = try clock.measure {
            result = try experiment.run { progress in
                if progress.epoch % reportEvery == 0 || progress.epoch == progress.epochs {
                    print(String(format: "  epoch %\(String(epochs).count)d/%d  loss %.4f",
                                 progress.epoch, progress.epochs, progress.loss))
                }
            }
        }
        guard let result else { return }
        let accuracy = try result.model.accuracy(result.inputs, labels: result.labels)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print(String(format: "training accuracy %.1f%%, loss %.4f, time %.3f s",
                     100 * accuracy, result.lossHistory.last ?? .nan, seconds))

        try DecisionPlot.render(model: result.model, inputs: result.inputs, labels: result.labels)
            .write(to: output)
        print("wrote \(output)")
    }
}
