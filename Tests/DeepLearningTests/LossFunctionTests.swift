import XCTest
@testable import DeepLearning

/// The losses against values worked out by hand (and checked with PyTorch 2.15's
/// MultiMarginLoss and MSELoss on the same numbers).
final class LossFunctionTests: XCTestCase {
    /// Row 0, label 1: margins 1 − 1.0 + 0.5 = 0.5 and 1 − 1.0 − 0.2 < 0, so 0.5 / 3 classes;
    /// row 1, label 0: 1 − 2 + 0.1 and 1 − 2 + 0.3 are negative, so 0. Mean: 0.5 / 6.
    /// Gradient: the one active term adds 1 / (2 rows · 3 classes) to x[0][0], takes it from
    /// x[0][1] (the label).
    func testMultiMarginLossByHand() throws {
        let loss = MultiMarginLoss()
        let scores = Tensor(shape: [2, 3], values: [0.5, 1.0, -0.2, 2.0, 0.1, 0.3])
        XCTAssertEqual(try loss.forward(scores, labels: [1, 0]), 0.5 / 6, accuracy: 1e-7)
        assertClose(loss.backward().values, [1.0 / 6, -1.0 / 6, 0, 0, 0, 0], tolerance: 1e-7,
                    "dx")
    }

    /// Errors −0.5, −1, 0.5, −0.25: squares 0.25 + 1 + 0.25 + 0.0625 = 1.5625, mean 0.390625;
    /// gradient 2 · error / 4.
    func testMeanSquaredErrorByHand() {
        let loss = MeanSquaredError()
        let predictions = Tensor(shape: [2, 2], values: [0.5, -1.0, 2.0, 0.25])
        let targets = Tensor(shape: [2, 2], values: [1.0, 0.0, 1.5, 0.5])
        XCTAssertEqual(loss.forward(predictions, targets: targets), 0.390625, accuracy: 1e-7)
        assertClose(loss.backward().values, [-0.25, -0.5, 0.25, -0.125], tolerance: 1e-7, "dp")
    }

    /// As a class-label loss, the targets are one-hot: outputs [0.5, −1] against label 0
    /// ([1, 0]) and [2, 0.25] against label 1 ([0, 1]): errors −0.5, −1, 2, −0.75.
    func testMeanSquaredErrorAgainstOneHotLabels() throws {
        let loss = MeanSquaredError()
        let outputs = Tensor(shape: [2, 2], values: [0.5, -1.0, 2.0, 0.25])
        XCTAssertEqual(try loss.forward(outputs, labels: [0, 1]),
                       Float((0.25 + 1 + 4 + 0.5625) / 4), accuracy: 1e-6)
        assertThrows(.labelOutOfRange(label: 2, index: 1, classes: 2),
                     message: "label 2 at index 1 is outside the classes 0..<2") {
            try loss.forward(outputs, labels: [0, 2])
        }
    }

    func testMultiMarginLossRejectsALabelOutsideTheClasses() {
        assertThrows(.labelOutOfRange(label: 3, index: 0, classes: 3),
                     message: "label 3 at index 0 is outside the classes 0..<3") {
            try MultiMarginLoss().forward(Tensor(shape: [1, 3]), labels: [3])
        }
    }

    /// The mean over an empty batch has no value (PyTorch's `cross_entropy` gives NaN): the
    /// class-label losses stop, as `crossEntropy(_:labels:)` does, rather than return 0.
    func testClassLabelLossesStopOnAnEmptyBatch() throws {
        try assertStops(withMessage: "SoftmaxCrossEntropy: scores of shape [0, 3] are not [batch, classes] with at least one of each") {
            _ = try? SoftmaxCrossEntropy().forward(Tensor(shape: [0, 3]), labels: [])
        }
    }

    func testClassLabelLossesStopWithoutClasses() throws {
        try assertStops(withMessage: "MultiMarginLoss: scores of shape [0, 0] are not [batch, classes] with at least one of each") {
            _ = try? MultiMarginLoss().forward(Tensor(shape: [0, 0]), labels: [])
        }
    }

    /// A network trains with the hinge loss and with MSE on one-hot labels too.
    func testFitWithOtherLosses() throws {
        let (inputs, labels) = spiral(pointsPerClass: 30, classes: 3, seed: 3)
        for loss in [MultiMarginLoss(), MeanSquaredError()] as [any Loss] {
            let model = Model { Linear(2, 32); Tanh(); Linear(32, 3) }
            model.initializeParameters(seed: 4)
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
            let history = try model.fit(inputs, labels: labels, loss: loss, optimizer: optimizer,
                                        epochs: 30, batchSize: 10)
            XCTAssertLessThan(history.last!, history.first!, "\(loss)")
        }
    }
}
