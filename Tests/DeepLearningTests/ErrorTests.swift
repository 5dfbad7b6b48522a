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

    func testLabelOutsideTheClassesInAccuracy() {
        let (model, _) = smallModel()
        assertThrows(.labelOutOfRange(label: 3, index: 1, classes: 3),
                     message: "label 3 at index 1 is outside the classes 0..<3") {
            try model.accuracy(Tensor(shape: [2, 2]), labels: [0, 3])
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

    /// A batch whose loss is NaN leaves BatchNorm's running statistics and batch count as
    /// they were before it (else they turn NaN, and so does every later prediction), in the
    /// fused passes and in the graph (a nested model): as after training on batch 1 alone.
    func testNonFiniteLossKeepsTheRunningStatistics() throws {
        let inputs = Tensor(shape: [4, 2], values: [1, 1, 2, 3, .nan, 3, 4, 4])
        for nested in [false, true] {
            func model() -> (Model, BatchNorm) {
                let batchNorm = BatchNorm(features: 3)
                let layers = Model { Linear(2, 3, seed: 1); batchNorm; ReLU(); Linear(3, 3, seed: 2) }
                return (nested ? Model { layers } : layers, batchNorm)
            }
            let (trained, batchNorm) = model()
            XCTAssertThrowsError(try trained.fit(inputs, labels: [0, 1, 2, 0],
                                                 optimizer: SGD(parameters: trained.parameters, learningRate: 0.1),
                                                 epochs: 1, batchSize: 2, shuffle: false))
            let (reference, referenceBatchNorm) = model()
            _ = try reference.fit(inputs.rows(0..<2), labels: [0, 1],
                                  optimizer: SGD(parameters: reference.parameters, learningRate: 0.1),
                                  epochs: 1, batchSize: 2)
            XCTAssertEqual(batchNorm.runningMean.values, referenceBatchNorm.runningMean.values, "nested \(nested)")
            XCTAssertEqual(batchNorm.runningVariance.values, referenceBatchNorm.runningVariance.values)
            XCTAssertEqual(batchNorm.batchesTracked.value, 1)
            XCTAssertEqual(trained.parameters.flatMap(\.values), reference.parameters.flatMap(\.values))
        }
    }

    /// Every tensor a model trains with: parameters and buffers (running statistics).
    private func state(of model: Model) -> [Float] {
        model.layers.flatMap { $0.namedParameters + $0.namedBuffers }.flatMap(\.tensor.values)
    }

    /// `BatchNorm` cannot train on one value per feature: `fit` refuses a batch size that
    /// leaves a last batch of one sample before training, changing nothing, and trains
    /// with `dropLast`.
    func testABatchALayerCannotTrainOnIsRefusedBeforeTraining() throws {
        let model = Model { Linear(2, 4); BatchNorm(features: 4); ReLU(); Linear(4, 3) }
        model.initializeParameters(seed: 1)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var generator = SeededGenerator(seed: 2)
        let inputs = randomTensor([30, 2], using: &generator)
        let labels = (0..<30).map { Int32($0 % 3) }
        let before = state(of: model)
        assertThrows(.batchTooSmall(layer: "BatchNorm(4)", needs: 2, batch: 1, samples: 30, batchSize: 29),
                     message: "BatchNorm(4) cannot train on a batch of 1 sample: it needs at least 2; 30 samples in batches of 29 leave a last batch of 1 (pass dropLast: true to skip it, or choose another batch size)") {
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2, batchSize: 29)
        }
        assertThrows(.batchTooSmall(layer: "BatchNorm(4)", needs: 2, batch: 1, samples: 30, batchSize: 1),
                     message: "BatchNorm(4) cannot train on batches of 1 sample: it needs at least 2; choose a batch size of at least 2") {
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2, batchSize: 1)
        }
        let one = Tensor(shape: [1, 2], values: [0.5, -1])
        assertThrows(.batchTooSmall(layer: "BatchNorm(4)", needs: 2, batch: 1, samples: 1, batchSize: 8),
                     message: "BatchNorm(4) cannot train on batches of 1 sample: it needs at least 2; the data set has only 1") {
            try model.fit(one, labels: [0], optimizer: optimizer, epochs: 2, batchSize: 8)
        }
        XCTAssertEqual(state(of: model), before, "nothing trained")
        let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2,
                                    batchSize: 29, dropLast: true)
        XCTAssertEqual(history.count, 2)
        XCTAssertTrue(history.allSatisfy(\.isFinite), "\(history)")
        XCTAssertNotEqual(state(of: model), before, "trained")
    }

    /// A layer written from operations that normalizes with a `BatchNorm` of its own.
    private final class NormalizedBlock: Layer {
        let linear = Linear(4, 4)
        let norm = BatchNorm(features: 4)
        func callAsFunction(_ input: Tensor) -> Tensor { relu(norm(linear(input))) }
    }

    /// `block`, then a `Linear` from its `features` outputs to 3 classes; SGD on both.
    private func classifier(after block: some Layer, features: Int) -> (Model, SGD) {
        let model = Model { block; Linear(features, 3) }
        model.initializeParameters(seed: 1)
        return (model, SGD(parameters: model.parameters, learningRate: 0.1))
    }

    /// A `BatchNorm` inside a layer written from operations is asked too: a last batch of one
    /// sample is refused before training, changing nothing, and `dropLast` trains.
    func testABatchNormInsideALayerOfOperationsIsAskedBeforeTraining() throws {
        let block = NormalizedBlock()
        let (model, optimizer) = classifier(after: block, features: 4)
        var generator = SeededGenerator(seed: 2)
        let inputs = randomTensor([33, 4], using: &generator)
        let labels = (0..<33).map { Int32($0 % 3) }
        let before = model.namedStateTensors.flatMap(\.tensor.values)
        assertThrows(.batchTooSmall(layer: "BatchNorm(4)", needs: 2, batch: 1, samples: 33, batchSize: 32),
                     message: "BatchNorm(4) cannot train on a batch of 1 sample: it needs at least 2; 33 samples in batches of 32 leave a last batch of 1 (pass dropLast: true to skip it, or choose another batch size)") {
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 1, batchSize: 32)
        }
        XCTAssertEqual(model.namedStateTensors.flatMap(\.tensor.values), before, "nothing trained")
        XCTAssertEqual(block.norm.batchesTracked.value, 0)
        try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 1, batchSize: 32,
                      dropLast: true)
        XCTAssertEqual(block.norm.batchesTracked.value, 1)
    }

    /// Four rows of 4 features a sample: a layer that folds them into the batch normalizes
    /// four rows for each sample.
    private final class FoldingBlock: Layer {
        let norm = BatchNorm(features: 4)
        func callAsFunction(_ input: Tensor) -> Tensor {
            norm(input.reshaped([input.shape[0] * 4, 4])).reshaped([input.shape[0], 16])
        }
    }

    /// The rows a function gets for each sample count: a `BatchNorm` that sees four rows a
    /// sample trains on batches of one sample.
    func testABatchNormOnRowsFoldedIntoTheBatchTrainsOnOneSample() throws {
        let block = FoldingBlock()
        let (model, optimizer) = classifier(after: block, features: 16)
        var generator = SeededGenerator(seed: 2)
        let inputs = randomTensor([3, 16], using: &generator)
        try model.fit(inputs, labels: [0, 1, 2], optimizer: optimizer, epochs: 1, batchSize: 1)
        XCTAssertEqual(block.norm.batchesTracked.value, 3)
    }

    /// `BatchNorm` on NCHW input trains on a batch of one image when an image has more than
    /// one pixel (as PyTorch's `BatchNorm2d`), but not on 1×1 images.
    func testBatchNormOnImagesTrainsOnOneImageOfSeveralPixels() throws {
        var generator = SeededGenerator(seed: 3)
        let labels: [Int32] = [0, 1, 2]
        let images = randomTensor([3, 1, 3, 3], using: &generator)
        let pixels = Model {
            Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1)
            BatchNorm(features: 2)
            Flatten()
            Linear(18, 3)
        }
        pixels.initializeParameters(seed: 4)
        let history = try pixels.fit(images, labels: labels,
                                     optimizer: SGD(parameters: pixels.parameters, learningRate: 0.1),
                                     epochs: 2, batchSize: 2)
        XCTAssertTrue(history.allSatisfy(\.isFinite), "\(history)")
        let onePixel = Model {
            Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3)
            BatchNorm(features: 2)
            Flatten()
            Linear(2, 3)
        }
        onePixel.initializeParameters(seed: 4)
        let before = state(of: onePixel)
        assertThrows(.batchTooSmall(layer: "BatchNorm(2)", needs: 2, batch: 1, samples: 3, batchSize: 2),
                     message: "BatchNorm(2) cannot train on a batch of 1 sample: it needs at least 2; 3 samples in batches of 2 leave a last batch of 1 (pass dropLast: true to skip it, or choose another batch size)") {
            try onePixel.fit(images, labels: labels,
                             optimizer: SGD(parameters: onePixel.parameters, learningRate: 0.1),
                             epochs: 2, batchSize: 2)
        }
        XCTAssertEqual(state(of: onePixel), before)
    }

    /// A label outside the classes is found before the first batch moves the running
    /// statistics.
    func testLabelOutsideTheClassesLeavesTheRunningStatisticsAlone() {
        let model = Model { Linear(2, 4); BatchNorm(features: 4); Linear(4, 3) }
        model.initializeParameters(seed: 1)
        let before = state(of: model)
        assertThrows(.labelOutOfRange(label: 3, index: 3, classes: 3),
                     message: "label 3 at index 3 is outside the classes 0..<3") {
            try model.fit(Tensor(shape: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8]),
                          labels: [0, 1, 2, 3], optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                          epochs: 1, batchSize: 4)
        }
        XCTAssertEqual(state(of: model), before)
    }

    /// `fit` reserves nothing per epoch up front: a run of 2^50 epochs starts, and stops when
    /// the loss turns NaN in its second epoch.
    func testAHugeNumberOfEpochsReservesNothingUpFront() {
        let (model, optimizer) = smallModel()
        let inputs = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        XCTAssertThrowsError(try model.fit(inputs, labels: [0, 1], optimizer: optimizer,
                                           epochs: 1 << 50, batchSize: 2) { _ in
            inputs.value[0] = .nan
        }) { error in
            guard case .nonFiniteLoss(_, 2, 1)? = error as? DeepLearningError else {
                return XCTFail("unexpected \(error)")
            }
        }
    }

    func testTensorStopsWhenItsElementCountOverflows() throws {
        try assertStops(withMessage: "Tensor: shape [2, 9223372036854775807] has too many elements to address") {
            _ = Tensor(shape: [2, Int.max])
        }
    }

    func testTensorStopsWhenItsByteCountOverflows() throws {
        try assertStops(withMessage: "Tensor: shape [4611686018427387904] has too many elements to address") {
            _ = Tensor(shape: [1 << 62])
        }
    }

    /// Values that do not fill a shape are named as such before the shape's buffer is asked
    /// for, even when it could not be allocated.
    func testTensorFromTooFewValuesStopsBeforeAllocating() throws {
        try assertStops(withMessage: "Tensor: 2 values do not fill shape [1099511627776, 1048576] (1152921504606846976 elements)") {
            _ = Tensor(shape: [1 << 40, 1 << 20], values: [1, 2])
        }
    }

    /// A count whose bytes fit in an Int but that no machine can address stops before its
    /// buffer's size class is computed.
    func testTensorStopsWhenItsBufferIsBeyondAnyAddressSpace() throws {
        try assertStops(withMessage: "Tensor: shape [2305843009213693951] needs 9223372036854775804 bytes, which the system cannot allocate") {
            _ = Tensor(shape: [Int.max / 4])
        }
    }

    /// An operation's result that the system cannot allocate (2^60 bytes).
    func testMatmulStopsWhenItsResultCannotBeAllocated() throws {
        try assertStops(withMessage: "Tensor: shape [536870912, 536870912] needs 1152921504606846976 bytes, which the system cannot allocate") {
            _ = matmul(Tensor(shape: [1 << 29, 0]), Tensor(shape: [0, 1 << 29]))
        }
    }

    func testReshapedStopsWhenTheElementCountOverflows() throws {
        try assertStops(withMessage: "reshaped: shape [9223372036854775807, 2] has too many elements to address") {
            _ = Tensor(shape: [2, 3]).reshaped([Int.max, 2])
        }
    }

    /// A product of empty operands whose result's element count overflows.
    func testMatmulStopsWhenTheResultsElementCountOverflows() throws {
        try assertStops(withMessage: "Tensor: shape [9223372036854775807, 2] has too many elements to address") {
            _ = matmul(Tensor(shape: [Int.max, 0]), Tensor(shape: [0, 2]))
        }
    }

    func testConcatenateStopsWhenTheSizeAlongTheAxisOverflows() throws {
        try assertStops(withMessage: "concatenate: the sizes along axis 0 of shapes [[9223372036854775807, 0], [1, 0]] add up to more than 9223372036854775807") {
            _ = concatenate([Tensor(shape: [Int.max, 0]), Tensor(shape: [1, 0])], alongAxis: 0)
        }
    }

    func testThreadsStopOnACountBeyondInt32() throws {
        try assertStops(withMessage: "Threads.count: 3000000000 must be in 1...\(Threads.maximumCount): at most 256, or the number of processors where that is more; more threads than processors only slow the kernels down") {
            Threads.count = 3_000_000_000
        }
    }

    /// A count OpenMP would try to start a team of, far beyond the processors, is refused.
    func testThreadsStopOnACountBeyondTheMaximum() throws {
        XCTAssertEqual(Threads.maximumCount, max(256, ProcessInfo.processInfo.processorCount))
        try assertStops(withMessage: "Threads.count: \(Threads.maximumCount + 1) must be in 1...\(Threads.maximumCount)") {
            Threads.count = Threads.maximumCount + 1
        }
    }

    /// The default count in a child process started with OMP_NUM_THREADS set: above the
    /// maximum it is clamped to it, with one line on standard error however often the count
    /// is asked for; 1 and 2 are taken as they are, without a word.
    func testAnOMPNumThreadsAboveTheMaximumIsClampedWithOneWarning() throws {
        if let expected = ProcessInfo.processInfo.environment[childMarker + "_THREADS"] {
            for _ in 0..<3 { XCTAssertEqual(Threads.count, Int(expected)) }
            return
        }
        let maximum = Threads.maximumCount
        for (variable, expected) in [("100000", maximum), ("1", 1), ("2", 2)] {
            let child = try runAgainInChild(
                "testAnOMPNumThreadsAboveTheMaximumIsClampedWithOneWarning",
                environment: ["OMP_NUM_THREADS": variable, childMarker + "_THREADS": "\(expected)"])
            XCTAssertEqual(child.status, 0,
                           "OMP_NUM_THREADS=\(variable): the default is not \(expected):\n\(child.errors)")
            XCTAssertEqual(child.errors.split(separator: "\n").filter { $0.contains("OMP_NUM_THREADS") },
                           expected == maximum
                               ? ["DeepLearning: OMP_NUM_THREADS asks for 100000 threads, more than the maximum \(maximum) (256, or the number of processors where that is more); using \(maximum)"]
                               : [], "OMP_NUM_THREADS=\(variable)")
        }
    }

    /// The maximum itself is accepted (no team is started until a kernel runs).
    func testThreadsTakeTheMaximumCount() {
        defer { Threads.reset() }
        Threads.count = Threads.maximumCount
        XCTAssertEqual(Threads.count, Threads.maximumCount)
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

    /// `fit` checks its layers on one sample before training; a layer that does not fit is
    /// named with its position, and the shapes of the user's data that reach it come first.
    func testFitNamesTheLayerThatDoesNotFitByPositionWithTheUsersShapes() throws {
        try assertStops(withMessage: "Model.fit: layer 2 of the model, Linear(4 → 2), cannot take what the inputs of shape [30, 2] give it: samples of shape [3], batches of shape [10, 3]; checked on one sample, the layer says: Linear(4 → 2): input of shape [1, 3] does not fit; expected [batch, 4]") {
            let model = Model { Linear(2, 3); ReLU(); Linear(4, 2) }
            _ = try? model.fit(Tensor(shape: [30, 2]), labels: [Int32](repeating: 0, count: 30),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 10)
        }
    }

    /// Data of the wrong width stops at the first layer; a layer in a nested model is named
    /// by its path, as in saved files.
    func testFitNamesTheFirstLayerForDataOfTheWrongWidth() throws {
        try assertStops(withMessage: "Model.fit: layer 0 of the model, Linear(2 → 3), cannot take what the inputs of shape [7, 5] give it: samples of shape [5], batches of shape [7, 5]; checked on one sample, the layer says: Linear(2 → 3): input of shape [1, 5] does not fit; expected [batch, 2]") {
            let model = Model { Linear(2, 3) }
            _ = try? model.fit(Tensor(shape: [7, 5]), labels: [Int32](repeating: 0, count: 7),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 20)
        }
    }

    func testFitNamesALayerOfANestedModelByItsPath() throws {
        try assertStops(withMessage: "Model.fit: layer 1.1 of the model, Linear(4 → 2), cannot take what the inputs of shape [6, 2] give it: samples of shape [3], batches of shape [4, 3]; checked on one sample, the layer says: Linear(4 → 2): input of shape [1, 3] does not fit; expected [batch, 4]") {
            let model = Model { Linear(2, 3); Model { ReLU(); Linear(4, 2) } }
            _ = try? model.fit(Tensor(shape: [6, 2]), labels: [Int32](repeating: 0, count: 6),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 4)
        }
    }

    /// On the graph (a layer of one's own), a layer that takes `fit`'s check of one sample
    /// but not a batch is named in the first batch by its position, as `fit`'s, not as a call
    /// of the model.
    func testFitNamesALayerThatDoesNotTakeTheFirstBatchOnTheGraph() throws {
        final class OneRow: Layer {
            func callAsFunction(_ input: Tensor) -> Tensor { input.reshaped([1, 2]) }
        }
        try assertStops(withMessage: "Model.fit: layer 1 of the model, OneRow, cannot take what the input of shape [3, 2] gives it, shape [3, 2]; the layer says: reshaped: shape [3, 2] (6 elements) cannot be viewed as [1, 2]") {
            let model = Model { Linear(2, 2); OneRow() }
            _ = try? model.fit(Tensor(shape: [6, 2]), labels: [Int32](repeating: 0, count: 6),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 3)
        }
    }

    /// A layer that takes the one sample and the full batches but not the smaller last batch
    /// (here 4 rows, then 2) is named by its position in that batch too, though the model ran
    /// on that sample shape already.
    func testFitNamesALayerThatDoesNotTakeTheLastBatchOnTheGraph() throws {
        final class FourRows: Layer {
            let scale = Tensor(shape: [4, 2])
            func callAsFunction(_ input: Tensor) -> Tensor { input * scale }
        }
        try assertStops(withMessage: "Model.fit: layer 1 of the model, FourRows, cannot take what the input of shape [2, 2] gives it, shape [2, 2]; the layer says: ") {
            let model = Model { Linear(2, 2); FourRows() }
            _ = try? model.fit(Tensor(shape: [6, 2]), labels: [Int32](repeating: 0, count: 6),
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 4)
        }
    }

    /// `forward` names a layer that does not fit by its position too, with the shape of the
    /// model's input and the one that reaches the layer (a `Linear` after the fused
    /// `Linear` + `ReLU` step is layer 2).
    func testForwardNamesTheLayerThatDoesNotFitByPosition() throws {
        try assertStops(withMessage: "Model.forward: layer 2 of the model, Linear(4 → 2), cannot take what the input of shape [5, 2] gives it, shape [5, 3]; the layer says: Linear(4 → 2): input of shape [5, 3] does not fit; expected [batch, 4]") {
            _ = Model { Linear(2, 3); ReLU(); Linear(4, 2) }.forward(Tensor(shape: [5, 2]))
        }
    }

    func testPredictNamesTheLayerThatDoesNotFitByPosition() throws {
        try assertStops(withMessage: "Model.predict: layer 0 of the model, Linear(2 → 3), cannot take what the input of shape [4, 5] gives it, shape [4, 5]; the layer says: Linear(2 → 3): input of shape [4, 5] does not fit; expected [batch, 2]") {
            _ = Model { Linear(2, 3); ReLU() }.predict(Tensor(shape: [4, 5]))
        }
    }

    /// A model that ran on one sample shape names the position again on a new one.
    func testForwardNamesThePositionOnEachNewSampleShape() throws {
        try assertStops(withMessage: "Model.forward: layer 1 of the model, Linear(3 → 2), cannot take what the input of shape [1, 4] gives it, shape [1, 4]; the layer says: ") {
            let model = Model { ReLU(); Linear(3, 2) }
            _ = model.forward(Tensor(shape: [2, 3]))
            _ = model.forward(Tensor(shape: [7, 3]))
            _ = model.forward(Tensor(shape: [1, 4]))
        }
    }

    /// Through the graph (a nested model is not a `Function`), a layer of a nested model is
    /// named by its path, as in saved files.
    func testForwardNamesALayerOfANestedModelByItsPath() throws {
        try assertStops(withMessage: "Model.forward: layer 1.1 of the model, Linear(4 → 2), cannot take what the input of shape [6, 2] gives it, shape [6, 3]; the layer says: Linear(4 → 2): input of shape [6, 3] does not fit; expected [batch, 4]") {
            let model = Model { Linear(2, 3); Model { ReLU(); Linear(4, 2) } }
            _ = model.forward(Tensor(shape: [6, 2]))
        }
    }

    /// A layer added to a nested model (here two models deep) after the outer model ran on
    /// the same sample shape is named by its path from the outer model, not from the nested
    /// one: the outer model's check of that shape no longer holds.
    func testForwardNamesALayerAddedToANestedModelAfterARunByItsPath() throws {
        try assertStops(withMessage: "Model.forward: layer 1.0.1 of the model, Linear(4 → 2), cannot take what the input of shape [6, 2] gives it, shape [6, 3]; the layer says: Linear(4 → 2): input of shape [6, 3] does not fit; expected [batch, 4]") {
            let inner = Model { ReLU() }
            let model = Model { Linear(2, 3); Model { inner } }
            _ = model.forward(Tensor(shape: [6, 2]))
            inner.add(Linear(4, 2))
            _ = model.forward(Tensor(shape: [6, 2]))
        }
    }

    /// A model that a layer of one's own holds is not among the model's layers: the layer
    /// holding it is named, and the inner model's own positions do not replace that.
    func testForwardNamesTheLayerOfYourOwnThatHoldsAModel() throws {
        final class Holder: Layer {
            let inner = Model { Linear(4, 2) }
            func callAsFunction(_ input: Tensor) -> Tensor { inner(input) }
        }
        try assertStops(withMessage: "Model.forward: layer 1 of the model, Holder, cannot take what the input of shape [2, 2] gives it, shape [2, 3]; the layer says: Linear(4 → 2): input of shape [2, 3] does not fit; expected [batch, 4]") {
            _ = Model { Linear(2, 3); Holder() }.forward(Tensor(shape: [2, 2]))
        }
    }

    func testCallingAModelNamesTheLayerThatDoesNotFitByPosition() throws {
        try assertStops(withMessage: "Model.callAsFunction: layer 1 of the model, Linear(4 → 2), cannot take what the input of shape [3, 2] gives it, shape [3, 3]; the layer says: Linear(4 → 2): input of shape [3, 3] does not fit; expected [batch, 4]") {
            let model = Model { Linear(2, 3); Linear(4, 2) }
            _ = model(Tensor(shape: [3, 2]))
        }
    }

    func testFitOnLabelsStopsWhenTheOutputIsNotClassScores() throws {
        try assertStops(withMessage: "Model.fit: the model's output for each sample has shape [2, 2, 2], not [classes]: labels need one row of class scores per sample") {
            let model = Model { Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 1) }
            _ = try? model.fit(Tensor(shape: [4, 1, 2, 2]), labels: [0, 1, 0, 1],
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 2)
        }
    }

    func testLinearStopsOnAnInputThatIsNotAMatrix() throws {
        try assertStops(withMessage: "Linear(2 → 3): input of shape [2] does not fit; expected [batch, 2]") {
            _ = Linear(2, 3).forward(Tensor(shape: [2]))
        }
    }

    func testSoftmaxStopsOnRowsOfNoClasses() throws {
        try assertStops(withMessage: "Softmax: input of shape [2, 0] has no classes to normalize over") {
            _ = Softmax().forward(Tensor(shape: [2, 0]))
        }
    }
}
