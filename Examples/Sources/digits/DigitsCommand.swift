import ArgumentParser
import Foundation
import DeepLearning
import DigitsExperiment
import ExampleOptions

extension DigitsExperiment.Architecture: ExpressibleByArgument {}

/// A duration in seconds.
private func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}

/// `swift run -c release --package-path Examples digits [--model cnn|residual]`: trains a small CNN (the default) or a
/// residual network on the 8×8 handwritten digits, prints its test accuracy, training time and
/// confusion matrix; or evaluates a saved model.
@main
struct DigitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digits",
        abstract: "Train a small CNN or a residual network on the 8x8 handwritten digits (UCI) and test it on a held-out 20%.")

    @Option(help: "The network: cnn (a small CNN) or residual (convolutional blocks with skip connections).")
    var model: DigitsExperiment.Architecture = .cnn
    @Option(help: "The data: a CSV file of 64 pixel counts (0...16) and a digit per row, gzip-compressed or not.")
    var data = DigitsExperiment.defaultDataPath
    @Option(help: "Passes over the training images, at most \(maximumEpochs) (default: cnn 30, residual 10).")
    var epochs: Int?
    @Option(help: "Images per mini-batch.") var batchSize = DigitsExperiment().batchSize
    @Option(help: "Adam step size (default: cnn 1e-3, residual 3e-3).") var learningRate: Float?
    @Option(help: "Seed of the initial weights and the shuffling.") var seed: UInt64 = 0
    @Option(help: "Seed of the stratified 80/20 train/test split.") var splitSeed: UInt64 = 0
    @Option(help: "Threads for the kernels, at most \(maximumThreads) (default: OMP_NUM_THREADS or all processors).")
    var threads: Int?
    @Option(help: "Save the trained model to this file (safetensors).") var save: String?
    @Option(help: "Evaluate the model saved in this file on the test images, without training.")
    var load: String?

    /// The experiment of the options.
    private var experiment: DigitsExperiment {
        var experiment = DigitsExperiment(architecture: model)
        if let epochs { experiment.epochs = epochs }
        experiment.batchSize = batchSize
        if let learningRate { experiment.learningRate = learningRate }
        experiment.seed = seed
        experiment.splitSeed = splitSeed
        return experiment
    }

    func validate() throws {
        if let message = invalidOption(in: experiment, threads: threads) {
            throw ValidationError(message)
        }
        if data.isEmpty { throw ValidationError("--data must name a file") }
        if save?.isEmpty == true { throw ValidationError("--save must name a file") }
        if load?.isEmpty == true { throw ValidationError("--load must name a file") }
        if save != nil && load != nil {
            throw ValidationError("--save and --load exclude each other: --load does not train")
        }
    }

    func run() throws {
        // Before any work: a model that cannot be saved is not trained.
        if let save { try checkReplaceable(at: save) }
        if let threads { Threads.count = threads }
        let experiment = self.experiment
        let split = try experiment.split(try DigitsExperiment.loadData(from: data))
        print("\(split.train.count) training and \(split.test.count) test images from \(data), \(Threads.count) thread(s)")

        let evaluation: Evaluation
        if let load {
            let network = DigitsExperiment.makeModel(model)
            try network.load(from: load)
            evaluation = try Evaluation(model: network, on: split.test)
            print("model loaded from \(load)")
        } else {
            let epochs = experiment.epochs
            print("Training \(model.summary), Adam, \(epochs) epochs")
            let reportEvery = max(1, epochs / 10)
            let clock = ContinuousClock()
            var result: DigitsExperiment.Result?
            var reporting = Duration.zero   // evaluating for the progress lines, not training
            var epochEnds = [Duration]()    // training time at the end of each epoch
            let start = clock.now
            let elapsed = try clock.measure {
                result = try experiment.run(on: split) { progress, model in
                    epochEnds.append(clock.now - start - reporting)
                    guard progress.epoch % reportEvery == 0 || progress.epoch == progress.epochs
                    else { return }
                    let start = clock.now
                    let accuracy = try model.accuracy(split.test.inputs, labels: split.test.labels)
                    print(String(format: "  epoch %\(String(epochs).count)d/%d  loss %.4f  test accuracy %.1f%%",
                                 progress.epoch, progress.epochs, progress.loss, 100 * accuracy))
                    reporting += clock.now - start
                }
            }
            guard let result else { return }
            evaluation = result.testEvaluation
            print(String(format: "training time %.3f s", seconds(elapsed - reporting)))
            // The epochs after the first, which also allocates the buffers and starts the threads.
            let later = zip(epochEnds.dropFirst(), epochEnds).map { seconds($0 - $1) }.sorted()
            if !later.isEmpty {
                print(String(format: "epochs after the first: median %.1f ms", 1000 * later[later.count / 2]))
            }
            if let save {
                try result.model.save(to: save)
                print("model saved to \(save)")
            }
        }
        print(String(format: "test accuracy %.2f%% (%d of %d images)", 100 * evaluation.accuracy,
                     evaluation.confusion.indices.reduce(0) { $0 + evaluation.confusion[$1][$1] },
                     split.test.count))
        print("confusion matrix (rows: true digit, columns: predicted digit):")
        print(evaluation.confusionTable)
    }
}
