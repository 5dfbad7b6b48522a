import ArgumentParser
import Foundation
import DeepLearning
import ExampleOptions
import SpiralExperiment

extension SpiralExperiment.WeightInitialization: ExpressibleByArgument {}

/// The experiment's settings, the options' defaults.
private let defaults = SpiralExperiment()

/// `swift run -c release --package-path Examples spiral`: trains the article's network on the spiral data, prints its
/// accuracy, loss and time, and draws its decision regions.
@main
struct SpiralCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spiral",
        abstract: "Train a one-hidden-layer network on the 3-class spiral and draw its decision regions.")

    @Option(help: "Passes over the data (at most \(maximumEpochs)).") var epochs = defaults.epochs
    @Option(help: "Samples per mini-batch.") var batchSize = defaults.batchSize
    @Option(help: "Units in the hidden layer (at most \(SpiralExperiment.maximumHiddenUnits)).")
    var hiddenUnits = defaults.hiddenUnits
    @Option(help: "SGD step size.") var learningRate = defaults.learningRate
    @Option(help: "SGD momentum (0 for plain SGD).") var momentum = defaults.momentum
    @Option(help: "SGD weight decay (L2 factor).") var weightDecay = defaults.weightDecay
    @Option(name: .customLong("init"), help: "Weight initialization: he, article (N(0, 0.01²)) or glorot.")
    var initialization = defaults.weightInitialization
    @Option(help: "Seed of the data, the initial weights and the shuffling.") var seed = defaults.seed
    @Option(help: "Threads for the kernels, at most \(maximumThreads) (default: OMP_NUM_THREADS or all processors).")
    var threads: Int?
    @Option(help: "Where to write the picture.") var output = "spiral.png"

    /// The experiment of the options.
    private var experiment: SpiralExperiment {
        var experiment = SpiralExperiment()
        experiment.epochs = epochs
        experiment.batchSize = batchSize
        experiment.hiddenUnits = hiddenUnits
        experiment.learningRate = learningRate
        experiment.momentum = momentum
        experiment.weightDecay = weightDecay
        experiment.weightInitialization = initialization
        experiment.seed = seed
        return experiment
    }

    func validate() throws {
        if let message = invalidOption(in: experiment, threads: threads) {
            throw ValidationError(message)
        }
        if output.isEmpty { throw ValidationError("--output must name a file") }
    }

    func run() throws {
        if let threads { Threads.count = threads }
        let experiment = self.experiment

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
