import XCTest
import DeepLearning
import SpiralExperiment

/// The `spiral` example's experiment.
final class SpiralTests: XCTestCase {
    /// The spiral example's default configuration learns the spiral on (nearly) every seed.
    func testDefaultSpiralReaches95PercentOnAtLeastNineOfTenSeeds() throws {
        var accuracies: [Double] = []
        for seed in 0..<10 {
            var experiment = SpiralExperiment()
            experiment.seed = UInt64(seed)
            let result = try experiment.run()
            accuracies.append(try result.model.accuracy(result.inputs, labels: result.labels))
        }
        XCTAssertGreaterThanOrEqual(accuracies.filter { $0 >= 0.95 }.count, 9, "\(accuracies)")
    }
}
