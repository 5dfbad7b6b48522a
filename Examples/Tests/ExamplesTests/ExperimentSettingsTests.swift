import DeepLearning
import DigitsExperiment
import ExampleOptions
import SpiralExperiment
import XCTest

/// The experiments' settings and parts, which Distributed's `mpi-train` trains with: the
/// ranges of the examples' options, and `run` made of the parts.
final class ExperimentSettingsTests: XCTestCase {
    /// Asserts that `validate` throws `InvalidOption` with `message`.
    private func assertRefused(_ validate: () throws -> Void, _ message: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try validate(), file: file, line: line) { error in
            XCTAssertEqual((error as? InvalidOption)?.description, message, file: file,
                           line: line)
        }
    }

    func testSettingsOutsideTheExamplesRangesAreRefused() throws {
        try SpiralExperiment().validate()
        try DigitsExperiment(architecture: .residual).validate()
        var spiral = SpiralExperiment()
        spiral.learningRate = 0
        assertRefused(spiral.validate, "--learning-rate must be a positive number, got 0.0")
        spiral = SpiralExperiment()
        spiral.hiddenUnits = 100_001
        assertRefused(spiral.validate, "--hidden-units must be in 1...100000, got 100001")
        spiral = SpiralExperiment()
        spiral.weightDecay = .infinity
        assertRefused(spiral.validate, "--weight-decay must be a number >= 0, got inf")
        spiral = SpiralExperiment()
        spiral.momentum = 1.5  // above 1 is allowed
        try spiral.validate()
        var digits = DigitsExperiment()
        digits.batchSize = 0
        assertRefused(digits.validate, "--batch-size must be at least 1, got 0")
        digits = DigitsExperiment()
        digits.epochs = 0
        assertRefused(digits.validate, "--epochs must be in 1...1000000, got 0")
        assertRefused({ try checkThreads(1025) }, "--threads must be in 1...1024, got 1025")
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
