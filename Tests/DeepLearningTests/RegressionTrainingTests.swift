import Foundation
import XCTest
@testable import DeepLearning

/// Training towards tensor targets: the loader gathers the targets' rows with the inputs',
/// `fit(_:targets:...)` trains a regression to a stated error, a loss written with
/// operations (`CustomLoss`) trains bit for bit as the `Loss` type of the same kernel, and
/// checkpoints resume a regression exactly.
final class RegressionTrainingTests: XCTestCase {
    /// `count` points x uniform in [-1, 1] (`[count, 1]`), their targets sin(3x) + noise of
    /// standard deviation `noise` and the noiseless values sin(3x), reproducibly from `seed`.
    static func sine(count: Int, noise: Float, seed: UInt64) -> (x: Tensor, y: Tensor, clean: Tensor) {
        var generator = SeededGenerator(seed: seed)
        let x = (0..<count).map { _ in Float.random(in: -1...1, using: &generator) }
        let clean = x.map { Float(Foundation.sin(3 * Double($0))) }
        let y = clean.map { $0 + noise * generator.nextNormal() }
        return (Tensor(shape: [count, 1], values: x), Tensor(shape: [count, 1], values: y),
                Tensor(shape: [count, 1], values: clean))
    }

    /// The MLP 1 → 32 → 32 → 1 with tanh, initialized from `seed`.
    static func sineModel(seed: UInt64) -> Model {
        let model = Model {
            Linear(1, 32)
            Tanh()
            Linear(32, 32)
            Tanh()
            Linear(32, 1)
        }
        model.initializeParameters(seed: seed)
        return model
    }

    func testLoaderGathersTheTargetsRowsWithTheInputsRows() throws {
        let n = 13
        let inputs = Tensor(shape: [n, 2], values: (0..<n).flatMap { [Float($0), -Float($0)] })
        // Targets of another sample shape, [1, 2]: row i holds 10 i and 10 i + 1.
        let targets = Tensor(shape: [n, 1, 2], values: (0..<n).flatMap { [10 * Float($0), 10 * Float($0) + 1] })
        let labels = (0..<n).map { Int32($0) }
        for dropLast in [false, true] {
            let loader = try MiniBatchLoader(inputs: inputs, targets: targets, batchSize: 4,
                                             dropLast: dropLast, seed: 3)
            let labelLoader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 4,
                                                  dropLast: dropLast, seed: 3)
            XCTAssertEqual(loader.sampleCount, n)
            for _ in 0..<2 {
                var seen: [Int] = []
                var labelBatches: [[Int32]] = []
                labelLoader.forEachBatch { _, _, labels in labelBatches.append(Array(labels)) }
                loader.forEachTargetBatch { batch, x, y in
                    XCTAssertEqual(y.shape, [x.shape[0], 1, 2])
                    for row in 0..<x.shape[0] {
                        let sample = x.value[2 * row]
                        XCTAssertEqual([y.value[2 * row], y.value[2 * row + 1]], [10 * sample, 10 * sample + 1])
                        seen.append(Int(sample))
                    }
                    // The same shuffle as a loader of labels with the same seed.
                    XCTAssertEqual((0..<x.shape[0]).map { Int32(x.value[2 * $0]) }, labelBatches[batch])
                }
                XCTAssertEqual(seen.count, dropLast ? 12 : 13)
                XCTAssertEqual(Set(seen).count, seen.count)
            }
        }
    }

    func testLoaderOfTargetsOfAnotherCountThrows() {
        assertThrows(.targetCountMismatch(samples: 3, targets: 2),
                     message: "the inputs have 3 samples but the targets have 2 rows") {
            try MiniBatchLoader(inputs: Tensor(shape: [3, 1]), targets: Tensor(shape: [2, 1]),
                                batchSize: 2)
        }
    }

    /// y = sin(3x) + N(0, 0.1²), 256 training points, the MLP 1-32-32-1 with tanh, Adam (rate
    /// 0.01), 150 epochs of batches of 32: on 200 held-out points the model's mean squared
    /// error against the noiseless sin(3x) is below 0.005 (the noise's own variance is 0.01).
    func testRegressionOfASineReachesItsStatedError() throws {
        let train = Self.sine(count: 256, noise: 0.1, seed: 1)
        let heldOut = Self.sine(count: 200, noise: 0, seed: 2)
        let model = Self.sineModel(seed: 3)
        let history = try model.fit(train.x, targets: train.y,
                                    optimizer: Adam(parameters: model.parameters, learningRate: 0.01),
                                    epochs: 150, batchSize: 32, seed: 4)
        let error = meanSquaredError(model.forward(heldOut.x), heldOut.clean).scalar
        XCTAssertLessThan(error, 0.005, "held-out MSE; training losses \(history.first!) ... \(history.last!)")
        XCTAssertLessThan(history.last!, 0.02)
    }

    /// Targets through the graph (the model forced off its fused passes) and through the fused
    /// passes: the same kernels in the same order, so the same losses and parameters, bit for
    /// bit, with a loss type and with a loss written with operations.
    func testTargetsTrainTheSameThroughTheGraphAsThroughTheFusedPasses() throws {
        let data = Self.sine(count: 40, noise: 0.1, seed: 16)
        func train(fused: Bool, _ loss: some TargetLoss) throws -> ([Float], [[Float]]) {
            let model = Self.sineModel(seed: 17)
            model.allowsFusedPath = fused
            let history = try model.fit(data.x, targets: data.y, loss: loss,
                                        optimizer: SGD(parameters: model.parameters, learningRate: 0.05,
                                                       momentum: 0.9),
                                        epochs: 4, batchSize: 16, seed: 18)
            return (history, model.parameters.map(\.values))
        }
        for (fused, graph) in [(try train(fused: true, L1Loss()), try train(fused: false, L1Loss())),
                               (try train(fused: true, CustomLoss { meanSquaredError($0, $1) }),
                                try train(fused: false, CustomLoss { meanSquaredError($0, $1) }))] {
            XCTAssertEqual(graph.0.map(\.bitPattern), fused.0.map(\.bitPattern))
            XCTAssertEqual(graph.1, fused.1)
        }
    }

    /// As with labels: after the first epoch (whose last batch is smaller), a step allocates
    /// no buffers, the batches' targets included.
    func testTrainingOnTargetsAllocatesNoBuffersAfterTheFirstEpoch() throws {
        let data = Self.sine(count: 45, noise: 0.1, seed: 14)   // 45 = 2×20 + 5
        let model = Self.sineModel(seed: 15)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var allocationsAfterEpoch: [Int] = []
        try model.fit(data.x, targets: data.y, loss: HuberLoss(), optimizer: optimizer, epochs: 4,
                      batchSize: 20) { _ in
            allocationsAfterEpoch.append(BufferPool.allocations.load(ordering: .relaxed))
        }
        XCTAssertEqual(Set(allocationsAfterEpoch).count, 1, "\(allocationsAfterEpoch)")
    }

    /// fit with `CustomLoss { meanSquaredError($0, $1) }` and with `MeanSquaredError()`: the
    /// same kernel computes the loss and dLoss/dOutput, and the graph's backward pass adds
    /// that gradient, scaled by 1, to the output leaf's zeros (exact up to the sign of a zero),
    /// so losses and parameters agree bit for bit. The same for cross-entropy on labels.
    func testLossWrittenWithOperationsTrainsAsTheLossType() throws {
        let data = Self.sine(count: 50, noise: 0.1, seed: 5)
        func train(_ loss: some TargetLoss) throws -> ([Float], [Float]) {
            let model = Self.sineModel(seed: 6)
            let history = try model.fit(data.x, targets: data.y, loss: loss,
                                        optimizer: SGD(parameters: model.parameters, learningRate: 0.05,
                                                       momentum: 0.9),
                                        epochs: 5, batchSize: 8, seed: 7)
            return (history, model.parameters.flatMap(\.values))
        }
        let reference = try train(MeanSquaredError())
        let written = try train(CustomLoss { meanSquaredError($0, $1) })
        XCTAssertEqual(written.0.map(\.bitPattern), reference.0.map(\.bitPattern))
        XCTAssertEqual(written.1.map(\.bitPattern), reference.1.map(\.bitPattern))
        let huber = try train(CustomLoss { huberLoss($0, $1, delta: 0.5) })
        let huberReference = try train(HuberLoss(delta: 0.5))
        XCTAssertEqual(huber.0.map(\.bitPattern), huberReference.0.map(\.bitPattern))
        XCTAssertNotEqual(huber.0, reference.0)

        let spiralData = spiral(pointsPerClass: 20, classes: 3, seed: 8)
        func classify(_ loss: some Loss) throws -> ([Float], [Float]) {
            let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
            model.initializeParameters(seed: 9)
            let history = try model.fit(spiralData.inputs, labels: spiralData.labels, loss: loss,
                                        optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                                        epochs: 5, batchSize: 16)
            return (history, model.parameters.flatMap(\.values))
        }
        let labelsReference = try classify(SoftmaxCrossEntropy())
        let labelsWritten = try classify(CustomLoss { try crossEntropy($0, labels: $1) })
        XCTAssertEqual(labelsWritten.0.map(\.bitPattern), labelsReference.0.map(\.bitPattern))
        XCTAssertEqual(labelsWritten.1.map(\.bitPattern), labelsReference.1.map(\.bitPattern))
    }

    /// A loss of operations that also reaches a parameter: its gradient arrives in the
    /// same backward pass, after fit has zeroed the gradients.
    func testCustomLossGradientIsTheGraphsWithRespectToTheOutput() throws {
        let output = Tensor(shape: [2, 2], values: [1, -2, 0.5, 3])
        let targets = Tensor(shape: [2, 2], values: [0, 0, 1, 1])
        let loss = CustomLoss { (output: Tensor, targets: Tensor) in
            (sqrt(pow(output - targets, 2) + 1) - 1).mean()
        }
        let value = try loss.forward(output, targets: targets)
        let errors: [Float] = [1, -2, -0.5, 2]
        XCTAssertEqual(value, errors.map { sqrtf($0 * $0 + 1) - 1 }.reduce(0, +) / 4, accuracy: 1e-6)
        let gradient = loss.backward().values
        for (got, e) in zip(gradient, errors) { XCTAssertEqual(got, e / sqrtf(e * e + 1) / 4, accuracy: 1e-6) }
        XCTAssertEqual(loss.backward().values, gradient, "a second backward() returns the same")
        XCTAssertFalse(output.requiresGradient, "the output itself is not turned into a leaf")
    }

    func testCustomLossThatIsNotAScalarStops() throws {
        try assertStops(withMessage: "CustomLoss: the loss of shape [2] is not a scalar") {
            _ = try? CustomLoss { (output: Tensor, _: Tensor) in output * 2 }
                .forward(Tensor(shape: [2]), targets: Tensor(shape: [2]))
        }
    }

    /// A loss that never uses the output (only a penalty on a parameter) gives the model no
    /// gradient: backward() stops and says so.
    func testCustomLossThatIgnoresTheOutputStops() throws {
        let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        try assertStops(withMessage: "CustomLoss: the loss does not depend on the output of shape [2, 1]") {
            let loss = CustomLoss { (_: Tensor, _: Tensor) in (w * w).sum() }
            _ = try? loss.forward(Tensor(shape: [2, 1]), targets: Tensor(shape: [2, 1]))
            _ = loss.backward()
        }
    }

    func testFitOnTargetsOfAnotherShapeStops() throws {
        try assertStops(withMessage: "Model.fit: the model's output for each sample has shape [1] but the targets' rows have shape [2] (targets of shape [4, 2]); they must be the same") {
            let model = Model { Linear(1, 1) }
            _ = try? model.fit(Tensor(shape: [4, 1]), targets: Tensor(shape: [4, 2]),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 2)
        }
    }

    /// 6 epochs in one go, and 3 epochs, then (a fresh model loaded from the saved file) 3
    /// more from the checkpoint: the same losses and parameters, bit for bit.
    func testCheckpointResumesARegressionExactly() throws {
        let directory = try makeTemporaryDirectory()
        let files = Checkpointing(modelPath: directory.appendingPathComponent("model").path,
                                  checkpointPath: directory.appendingPathComponent("checkpoint").path)
        let data = Self.sine(count: 40, noise: 0.1, seed: 10)
        func fit(_ model: Model, epochs: Int, resuming: Bool) throws -> [Float] {
            let optimizer = Adam(parameters: model.parameters, learningRate: 0.01)
            return try model.fit(data.x, targets: data.y, loss: L1Loss(), optimizer: optimizer,
                                 epochs: epochs, batchSize: 16, seed: 11, checkpoints: files,
                                 resumingFrom: resuming ? files.checkpointPath : nil)
        }
        let reference = Self.sineModel(seed: 12)
        let all = try fit(reference, epochs: 6, resuming: false)
        let first = try fit(Self.sineModel(seed: 12), epochs: 3, resuming: false)
        let resumed = Self.sineModel(seed: 13)
        try resumed.load(from: files.modelPath)
        let rest = try fit(resumed, epochs: 6, resuming: true)
        XCTAssertEqual((first + rest).map(\.bitPattern), all.map(\.bitPattern))
        XCTAssertEqual(resumed.parameters.flatMap(\.values).map(\.bitPattern),
                       reference.parameters.flatMap(\.values).map(\.bitPattern))
    }
}
