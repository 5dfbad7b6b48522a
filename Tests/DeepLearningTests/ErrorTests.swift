import XCTest
@testable import DeepLearning

/// Every thrown error, triggered, with its message; and the stops for programming errors.
final class ErrorTests: XCTestCase {
    private func smallModel() -> (Model, SGD) {
        let model = Model { Linear(2, 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: 1)
        return (model, SGD(parameters: model.parameters, learningRate: 0.1))
    }

    func testLabelOutsideTheClassesInFit() {
        let (model, optimizer) = smallModel()
        let inputs = Tensor(shape: [4, 2])
        assertThrows(.labelOutOfRange(label: 3, index: 2, classes: 3),
                     message: "label 3 at index 2 is outside the classes 0..<3") {
            try model.fit(inputs, labels: [0, 1, 3, 2], optimizer: optimizer, epochs: 1,
                          batchSize: 2)
        }
    }

    func testLabelOutsideTheClassesInTheLoss() {
        let logits = Tensor(shape: [2, 3])
        assertThrows(.labelOutOfRange(label: -1, index: 1, classes: 3),
                     message: "label -1 at index 1 is outside the classes 0..<3") {
            try SoftmaxCrossEntropy().forward(logits, labels: [Int32(0), -1])
        }
    }

    func testSamplesAndLabelsOfDifferentCounts() {
        let (model, optimizer) = smallModel()
        assertThrows(.countMismatch(samples: 3, labels: 2),
                     message: "the inputs have 3 samples but there are 2 labels") {
            try model.fit(Tensor(shape: [3, 2]), labels: [0, 1], optimizer: optimizer,
                          epochs: 1, batchSize: 2)
        }
        assertThrows(.countMismatch(samples: 3, labels: 4),
                     message: "the inputs have 3 samples but there are 4 labels") {
            try model.accuracy(Tensor(shape: [3, 2]), labels: [0, 1, 2, 0])
        }
    }

    func testEmptyDataSet() {
        let (model, optimizer) = smallModel()
        assertThrows(.emptyDataSet, message: "the data set is empty: it has no samples") {
            try model.fit(Tensor(shape: [0, 2]), labels: [], optimizer: optimizer, epochs: 1,
                          batchSize: 2)
        }
    }

    func testBatchSizeBelowOne() {
        let (model, optimizer) = smallModel()
        assertThrows(.invalidBatchSize(0), message: "batch size 0 is invalid: it must be at least 1") {
            try model.fit(Tensor(shape: [2, 2]), labels: [0, 1], optimizer: optimizer,
                          epochs: 1, batchSize: 0)
        }
    }

    /// A loss that turns infinite stops training before that batch updates the parameters.
    func testNonFiniteLossStopsTrainingAndKeepsTheParameters() {
        let (model, optimizer) = smallModel()
        let inputs = Tensor(shape: [4, 2], values: [1, 1, 2, 2, .infinity, 3, 4, 4])
        let before = model.parameters.flatMap(\.values)
        XCTAssertThrowsError(try model.fit(inputs, labels: [0, 1, 2, 0], optimizer: optimizer,
                                           epochs: 3, batchSize: 2, shuffle: false)) { error in
            guard case let .nonFiniteLoss(value, 1, 2)? = error as? DeepLearningError else {
                return XCTFail("unexpected \(error)")
            }
            XCTAssertTrue(value.isNaN)
            XCTAssertEqual("\(error)", "the loss became NaN in epoch 1, batch 2; training stopped before updating the parameters with it")
        }
        XCTAssertNotEqual(model.parameters.flatMap(\.values), before, "batch 1 trained")
        // Training again from the same start, without the bad batch, gives the same parameters.
        let (reference, referenceOptimizer) = smallModel()
        _ = try? reference.fit(Tensor(shape: [2, 2], values: [1, 1, 2, 2]), labels: [0, 1],
                               optimizer: referenceOptimizer, epochs: 1, batchSize: 2)
        XCTAssertEqual(model.parameters.flatMap(\.values), reference.parameters.flatMap(\.values))
    }

    func testLinearStopsOnAnInputOfTheWrongWidth() throws {
        try assertStops(withMessage: "Linear(2 → 3): input of shape [4, 5] does not fit; expected [batch, 2]") {
            _ = Linear(2, 3).forward(Tensor(shape: [4, 5]))
        }
    }

    func testModelStopsWhenLayerSizesDoNotFit() throws {
        try assertStops(withMessage: "Linear(4 → 2): input of shape [1, 3] does not fit; expected [batch, 4]") {
            _ = Model { Linear(2, 3); ReLU(); Linear(4, 2) }.forward(Tensor(shape: [1, 2]))
        }
    }

    func testLinearStopsOnAnInputThatIsNotAMatrix() throws {
        try assertStops(withMessage: "Linear(2 → 3): input of shape [2] does not fit; expected [batch, 2]") {
            _ = Linear(2, 3).forward(Tensor(shape: [2]))
        }
    }
}
