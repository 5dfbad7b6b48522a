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

    func testProbabilityOutsideTheRangeStops() throws {
        try assertStops(withMessage: "Dropout: probability 1.0 must be in [0, 1)") {
            _ = Dropout(probability: 1)
        }
    }
}
