import XCTest
@testable import DeepLearning

final class TrainingTests: XCTestCase {
    override func tearDown() { Threads.reset() }

    /// The kernels split no sum between threads, so training is the same bit for bit.
    func testTrainingIsIndependentOfTheThreadCount() throws {
        // One batch of 300 through 2000 hidden units: large enough for every kernel to go parallel.
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3, seed: 0)
        func train(threads: Int) throws -> (lossHistory: [Float], parameters: [Float]) {
            Threads.count = threads
            let model = Model { Linear(2, 2000); ReLU(); Linear(2000, 3) }
            model.initializeParameters(seed: 1)
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9,
                                weightDecay: 0.001)
            let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 5,
                                        batchSize: 300, seed: 2)
            return (history, model.parameters.flatMap(\.values))
        }
        let serial = try train(threads: 1)
        let parallel = try train(threads: 2)
        XCTAssertEqual(serial.lossHistory, parallel.lossHistory)
        XCTAssertEqual(serial.parameters, parallel.parameters)
    }

    /// After the first batch, a training step allocates no tensor buffers, including around
    /// the smaller last batch of an epoch.
    func testTrainingStepsAllocateNoBuffersAfterTheFirstEpoch() throws {
        let (inputs, labels) = spiral(pointsPerClass: 30, classes: 3, seed: 1) // 90 = 4×20 + 10
        let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var allocationsAfterEpoch: [Int] = []
        try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 4, batchSize: 20) { _ in
            allocationsAfterEpoch.append(BufferPool.allocations.load(ordering: .relaxed))
        }
        XCTAssertEqual(Set(allocationsAfterEpoch.dropFirst()).count, 1, "\(allocationsAfterEpoch)")
        XCTAssertEqual(allocationsAfterEpoch.first, allocationsAfterEpoch.last)
    }

    func testFitReturnsOneDecreasingLossPerEpochAndReportsProgress() throws {
        let (inputs, labels) = spiral(pointsPerClass: 50, classes: 3, seed: 2)
        let model = Model()
        model.add(Linear(2, 50))
        model.add(ReLU())
        model.add(Linear(50, 3))
        model.initializeParameters(seed: 3)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var reported: [Int] = []
        let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 30,
                                    batchSize: 16) { reported.append($0.epoch) }
        XCTAssertEqual(history.count, 30)
        XCTAssertEqual(reported, Array(1...30))
        XCTAssertLessThan(history.last!, history.first! / 2)
    }

    /// `beforeStep` sees every batch's loss (penalties included) and size, and an error it
    /// throws stops `fit` before that batch's update.
    func testBeforeStepSeesEachBatchAndItsErrorStopsFitBeforeTheUpdate() throws {
        struct Stop: Error {}
        let (inputs, labels) = spiral(pointsPerClass: 30, classes: 3, seed: 1) // 90 = 4×20 + 10
        let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
        model.initializeParameters(seed: 3)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
        let penalty = Penalty(parameters: [model.parameters[0]], l2: 0.01)
        var steps: [(loss: Float, samples: Int)] = []
        let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2,
                                    batchSize: 20, penalties: [penalty],
                                    beforeStep: { steps.append(($0, $1)) })
        XCTAssertEqual(steps.map(\.samples), [20, 20, 20, 20, 10, 20, 20, 20, 20, 10])
        for (epoch, loss) in history.enumerated() {
            let epochSteps = steps[5 * epoch..<5 * epoch + 5]
            let sum = epochSteps.reduce(0.0) { $0 + Double($1.loss) * Double($1.samples) }
            XCTAssertEqual(loss, Float(sum / 90))
        }

        var beforeThirdUpdate: [Float] = []
        var calls = 0
        XCTAssertThrowsError(try model.fit(inputs, labels: labels, optimizer: optimizer,
                                           epochs: 1, batchSize: 20, beforeStep: { _, _ in
            calls += 1
            if calls == 3 {
                beforeThirdUpdate = model.parameters.flatMap(\.values)
                throw Stop()
            }
        })) { XCTAssertTrue($0 is Stop) }
        XCTAssertEqual(model.parameters.flatMap(\.values), beforeThirdUpdate)
    }

    func testPredictProbabilitiesAndAccuracy() throws {
        // A fixed linear model: class = argmax of (x, −x, 0).
        let layer = Linear(1, 3)
        layer.weight.value.update(from: [1, -1, 0], count: 3)
        layer.bias.value.update(repeating: 0, count: 3)
        let model = Model([layer])
        let inputs = Tensor(shape: [3, 1], values: [2, -2, 0])
        XCTAssertEqual(model.predict(inputs), [0, 1, 0]) // ties go to the first class
        let probabilities = model.probabilities(inputs).values
        XCTAssertEqual(probabilities[0], Float(exp(2.0) / (exp(2.0) + exp(-2.0) + 1)), accuracy: 1e-6)
        XCTAssertEqual(probabilities[6...8].reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(try model.accuracy(inputs, labels: [0, 1, 2]), 2.0 / 3.0)
    }

    /// `predict` as its documentation says: a NaN score counts as smaller than every number,
    /// so a row of only NaN gives class 0.
    func testPredictSkipsNaNScores() {
        let layer = Linear(1, 3)
        layer.weight.value.update(from: [1, .nan, -1], count: 3)
        layer.bias.value.update(repeating: 0, count: 3)
        let model = Model([layer])
        XCTAssertEqual(model.predict(Tensor(shape: [3, 1], values: [2, -2, .nan])), [0, 2, 0])
    }

    /// A model whose output is not a matrix of class scores stops `predict` with a message
    /// (a 4-D output read as rows would give classes from the first pixels of each sample).
    func testPredictNeedsClassScores() throws {
        let model = Model { Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 1) }
        try assertStops(withMessage: "Model.predict: the model's output has shape [3, 2, 4, 4], not the class scores [samples, classes] that it needs") {
            _ = model.predict(Tensor(shape: [3, 1, 4, 4]))
        }
    }

    /// So does `probabilities`, for an output of one value per sample.
    func testProbabilitiesNeedClassScores() throws {
        let model = Model { Sum() }
        try assertStops(withMessage: "Model.probabilities: the model's output has shape [3], not the class scores [samples, classes] that it needs") {
            _ = model.probabilities(Tensor(shape: [3, 2]))
        }
    }

    func testInitializeParametersIsReproducible() {
        let first = Model { Linear(3, 5); ReLU(); Linear(5, 2) }
        let second = Model { Linear(3, 5); ReLU(); Linear(5, 2) }
        first.initializeParameters(seed: 9)
        second.initializeParameters(seed: 9)
        XCTAssertEqual(first.parameters.flatMap(\.values), second.parameters.flatMap(\.values))
    }
}

/// The sum of each row: one value per sample.
private final class Sum: Layer {
    func callAsFunction(_ x: Tensor) -> Tensor { x.sum(alongAxis: 1) }
}
