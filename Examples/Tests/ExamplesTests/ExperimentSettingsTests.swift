import DeepLearning
import DigitsExperiment
import ExampleOptions
import SpiralExperiment
import XCTest

/// The experiments' settings and parts, which Distributed's `mpi-train` trains with: the
/// ranges of the examples' options, and `run` made of the parts.
final class ExperimentSettingsTests: XCTestCase {
    /// `value` with `change` made to it.
    private func changed<Value>(_ value: Value, _ change: (inout Value) -> Void) -> Value {
        var value = value
        change(&value)
        return value
    }

    func testSettingsOutsideTheExamplesRangesAreRefused() throws {
        let (spiral, digits) = (SpiralExperiment(), DigitsExperiment())
        let refused: [(settings: any TrainingSettings, threads: Int?, message: String)] = [
            (changed(spiral) { $0.learningRate = 0 }, nil,
             "--learning-rate must be a positive number, got 0.0"),
            (changed(spiral) { $0.hiddenUnits = 100_001 }, nil,
             "--hidden-units must be in 1...100000, got 100001"),
            (changed(spiral) { $0.weightDecay = .infinity }, nil,
             "--weight-decay must be a number >= 0, got inf"),
            (changed(digits) { $0.batchSize = 0 }, nil, "--batch-size must be at least 1, got 0"),
            (changed(digits) { $0.epochs = 0 }, nil, "--epochs must be in 1...1000000, got 0"),
            (spiral, Threads.maximumCount + 1,
             "--threads must be in 1...\(Threads.maximumCount), got \(Threads.maximumCount + 1)"),
        ]
        for (settings, threads, message) in refused {
            XCTAssertEqual(invalidOption(in: settings, threads: threads), message)
        }
        XCTAssertNil(invalidOption(in: spiral, threads: Threads.maximumCount))
        XCTAssertNil(invalidOption(in: DigitsExperiment(architecture: .residual), threads: nil))
        // Momentum above 1 is allowed.
        XCTAssertNil(invalidOption(in: changed(spiral) { $0.momentum = 1.5 }, threads: nil))
    }

    /// `run` trains on `data()` the network of `initializedModel()` with the optimizer of
    /// `optimizer(for:)`, shuffled from `shuffleSeed`: training the parts gives its losses.
    func testTheSpiralRunIsMadeOfItsParts() throws {
        var experiment = SpiralExperiment()
        experiment.epochs = 3
        experiment.seed = 4
        let (inputs, labels) = experiment.data()
        let model = experiment.initializedModel()
        let losses = try model.fit(inputs, labels: labels,
                                   optimizer: experiment.optimizer(for: model.parameters),
                                   epochs: experiment.epochs, batchSize: experiment.batchSize,
                                   seed: experiment.shuffleSeed)
        XCTAssertEqual(try experiment.run().lossHistory, losses)
    }
}
