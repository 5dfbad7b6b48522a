import XCTest
@testable import DeepLearning

/// Which optimizers `fit` trains with: one that updates none of the model's parameters (made
/// for another model) stops before training; one of some of them trains those and leaves the
/// others frozen; one may also update tensors outside the model, as PyTorch's.
final class FitOptimizerTests: XCTestCase {
    private let (inputs, labels) = spiral(pointsPerClass: 10, classes: 3, seed: 1)

    private func smallModel() -> Model {
        let model = Model { Linear(2, 8); ReLU(); Linear(8, 3) }
        model.initializeParameters(seed: 1)
        return model
    }

    func testFitStopsWithAnOptimizerOfAnotherModel() throws {
        try assertStops(withMessage: "Model.fit: the optimizer SGD updates none of the model's 4 parameters (\"0.weight\", \"0.bias\", \"2.weight\", \"2.bias\") but 4 other tensors, so training would change nothing; make it with this model's parameters (model.parameters, or some of them to train only those)") {
            let model = smallModel()
            let optimizer = SGD(parameters: smallModel().parameters, learningRate: 0.1)
            _ = try? model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 1,
                               batchSize: 10)
        }
    }

    func testFitOnTargetsStopsWithAnOptimizerOfNoTensors() throws {
        try assertStops(withMessage: "Model.fit: the optimizer Adam updates none of the model's 2 parameters (\"0.weight\", \"0.bias\") but 0 other tensors") {
            let model = Model { Linear(2, 1) }
            _ = try? model.fit(Tensor(shape: [4, 2]), targets: Tensor(shape: [4, 1]),
                               optimizer: Adam(parameters: []), epochs: 1, batchSize: 2)
        }
    }

    /// Freezing the first layer: the optimizer of the last layer's parameters trains them,
    /// and the first layer's stay as they were.
    func testFitWithAnOptimizerOfSomeParametersTrainsThoseOnly() throws {
        let model = smallModel()
        let (first, last) = (model.layers[0].parameters, model.layers[2].parameters)
        let (firstBefore, lastBefore) = (first.map(\.values), last.map(\.values))
        try model.fit(inputs, labels: labels,
                      optimizer: SGD(parameters: last, learningRate: 0.1), epochs: 2,
                      batchSize: 10)
        XCTAssertEqual(first.map(\.values), firstBefore)
        XCTAssertNotEqual(last.map(\.values), lastBefore)
    }

    /// A tensor of the loss's, outside the model, is updated with the model's parameters.
    func testFitUpdatesATensorOutsideTheModelThatTheOptimizerHolds() throws {
        let model = smallModel()
        let scale = Tensor(shape: [], values: [1], requiresGradient: true)
        let scaled = CustomLoss { (output: Tensor, labels: [Int32]) in
            try crossEntropy(output * scale, labels: labels)
        }
        let before = model.parameters.map(\.values)
        try model.fit(inputs, labels: labels, loss: scaled,
                      optimizer: SGD(parameters: model.parameters + [scale], learningRate: 0.1),
                      epochs: 2, batchSize: 10)
        XCTAssertNotEqual(scale.values, [1])
        XCTAssertNotEqual(model.parameters.map(\.values), before)
    }

    /// A model without parameters trains with any optimizer (there is nothing to miss).
    func testFitOfAModelWithoutParametersTakesAnOptimizerOfNone() throws {
        let model = Model { ReLU() }
        let history = try model.fit(Tensor(shape: [6, 3]), labels: [0, 1, 2, 0, 1, 2],
                                    optimizer: SGD(parameters: [], learningRate: 0.1), epochs: 2,
                                    batchSize: 3)
        XCTAssertEqual(history.count, 2)
        XCTAssertEqual(history[0], history[1])
    }
}
