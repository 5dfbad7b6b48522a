import XCTest
@testable import DeepLearning

final class DropoutTests: XCTestCase {
    private let input = Tensor(shape: [4, 250], values: (0..<1000).map { Float($0 % 7) + 1 })

    func testEvaluationIsTheIdentityAndTrainingDropsAndScales() {
        let dropout = Dropout(probability: 0.25, seed: 1)
        dropout.setTraining(false)
        XCTAssertTrue(dropout.forward(input) === input)
        XCTAssertTrue(dropout.backward(input) === input)
        dropout.setTraining(true)
        let output = dropout.forward(input).values
        let dropped = output.filter { $0 == 0 }.count
        XCTAssertEqual(Double(dropped) / 1000, 0.25, accuracy: 0.05)
        for (x, y) in zip(input.values, output) where y != 0 { XCTAssertEqual(y, x / 0.75, accuracy: 1e-6) }
        let dx = dropout.backward(Tensor(shape: [4, 250], values: [Float](repeating: 1, count: 1000)))
        XCTAssertEqual(dx.values.map { $0 == 0 }, output.map { $0 == 0 }, "backward uses the forward's mask")
    }

    func testEachTrainingPassDrawsAFreshMask() {
        let dropout = Dropout(probability: 0.5, seed: 2)
        let first = dropout.forward(input).values
        XCTAssertNotEqual(dropout.forward(input).values, first)
    }

    func testModelModesAndReproducibleMasks() throws {
        func model() -> Model {
            let model = Model { Linear(2, 8); ReLU(); Dropout(probability: 0.5); Linear(8, 3) }
            model.initializeParameters(seed: 3)
            return model
        }
        let (a, b) = (model(), model())
        let x = Tensor(shape: [5, 2], values: (0..<10).map { Float($0) / 10 })
        XCTAssertEqual(a.forward(x).values, b.forward(x).values, "same seed, same masks")
        XCTAssertTrue(a.isTraining)
        // predict evaluates without dropout (deterministic), then restores training mode.
        XCTAssertEqual(a.predict(x), a.predict(x))
        XCTAssertTrue(a.isTraining)
        a.isTraining = false
        XCTAssertEqual(a.forward(x).values, a.forward(x).values, "no dropout in evaluation")
        let (inputs, labels) = spiral(pointsPerClass: 10, classes: 3, seed: 1)
        try a.fit(inputs, labels: labels, optimizer: SGD(parameters: a.parameters, learningRate: 0.1),
                  epochs: 1, batchSize: 10)
        XCTAssertFalse(a.isTraining, "fit restores the mode it found")
    }

    /// Dropping multiplies by 0, as PyTorch's mask does (`F.dropout` of NaN and ±∞ gives NaN
    /// everywhere, of −2 a −0 where dropped): NaN is not hidden as 0, forward or backward,
    /// through the layer or the recorded operation.
    func testDroppedNaNAndInfinitiesBecomeNaN() {
        let count = 200
        let specials = Tensor(shape: [count], values: (0..<count).map {
            [Float.nan, .infinity, -.infinity][$0 % 3]
        }, requiresGradient: true)
        let dropout = Dropout(probability: 0.5, seed: 4)
        XCTAssertTrue(dropout.forward(specials).values.allSatisfy { !$0.isFinite })
        let nans = Tensor(shape: [count], values: Array(repeating: .nan, count: count))
        XCTAssertTrue(dropout.backward(nans).values.allSatisfy(\.isNaN))
        let output = dropout(specials)
        XCTAssertTrue(output.values.allSatisfy { !$0.isFinite })
        output.backward(nans)
        XCTAssertTrue(specials.gradients.allSatisfy(\.isNaN))
        let negatives = dropout.forward(Tensor(shape: [count], values: Array(repeating: -2, count: count)))
        let dropped = negatives.values.filter { $0 == 0 }
        XCTAssertFalse(dropped.isEmpty)
        XCTAssertTrue(dropped.allSatisfy { $0.sign == .minus }, "−2 · 0 is −0")
    }

    /// A training pass's backward checks the gradient against its output's shape (the mask
    /// would otherwise be drawn again for any count).
    func testBackwardStopsOnAGradientOfAnotherShape() throws {
        try assertStops(withMessage: "Dropout(0.5): output gradient of shape [100, 4] does not match the last output's shape [1, 4]") {
            let dropout = Dropout(probability: 0.5, seed: 1)
            _ = dropout.forward(Tensor(shape: [1, 4]))
            _ = dropout.backward(Tensor(shape: [100, 4]))
        }
    }

    func testProbabilityOutsideTheRangeStops() throws {
        try assertStops(withMessage: "Dropout: probability 1.0 must be in [0, 1)") {
            _ = Dropout(probability: 1)
        }
    }
}
