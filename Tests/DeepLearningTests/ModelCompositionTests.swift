import XCTest
@testable import DeepLearning

/// y = x + second(relu(first(x))), then relu: a layer written from operations alone.
private final class ResidualBlock: Layer {
    let first: Linear, second: Linear

    init(_ width: Int) {
        first = Linear(width, width)
        second = Linear(width, width)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { relu(x + second(relu(first(x)))) }
}

/// A learnable per-feature scale, written from operations: the custom layer.
private final class FeatureScale: Layer {
    let scale: Tensor

    init(features: Int) {
        scale = Tensor(shape: [features], values: Array(repeating: 1, count: features),
                       requiresGradient: true)
    }

    func callAsFunction(_ x: Tensor) -> Tensor { x * scale }
}

/// Blocks in an array, a buffer and an optional sub-layer: what reflection must find.
private final class Stack: Layer {
    let blocks = [ResidualBlock(3), ResidualBlock(3)]
    let offset = Tensor(shape: [3], values: [0.5, 0, -0.5])     // a buffer: no gradient
    var head: Linear? = Linear(3, 2)
    let width = 3                                                 // ignored

    func callAsFunction(_ x: Tensor) -> Tensor {
        head!(blocks.reduce(x + offset) { $1($0) })
    }
}

final class ModelCompositionTests: XCTestCase {
    private func spiralModel() -> Model {
        Model { Linear(2, 16); ResidualBlock(16); ReLU(); Linear(16, 3) }
    }

    func testResidualBlockTrainsThroughFit() throws {
        let (x, labels) = spiral(pointsPerClass: 40, classes: 3, seed: 1)
        let model = spiralModel()
        model.initializeParameters(seed: 2)
        XCTAssertEqual(model.parameters.count, 8)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        let losses = try model.fit(x, labels: labels, optimizer: optimizer, epochs: 30,
                                   batchSize: 20)
        XCTAssertLessThan(losses.last!, 0.6 * losses.first!, "\(losses)")
        XCTAssertGreaterThan(try model.accuracy(x, labels: labels), 0.7)
    }

    func testResidualBlockTrainsInAHandWrittenLoop() throws {
        let (x, labels) = spiral(pointsPerClass: 40, classes: 3, seed: 3)
        let model = spiralModel()
        model.initializeParameters(seed: 4)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var losses: [Float] = []
        for _ in 0..<100 {
            let loss = try crossEntropy(model(x), labels: labels)
            losses.append(loss.scalar)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        XCTAssertLessThan(losses.last!, 0.6 * losses.first!)
    }

    func testTiedWeightsAreOneParameterWithTheSumOfBothGradients() throws {
        let shared = Linear(3, 3, seed: 5)
        let model = Model { shared; Tanh(); shared }
        XCTAssertEqual(model.parameters.count, 2, "each tensor once, for the optimizer")
        XCTAssertEqual(model.namedStateTensors.map(\.name),
                       ["0.weight", "0.bias", "2.weight", "2.bias"], "PyTorch's state_dict")
        var generator = SeededGenerator(seed: 6)
        let x = differentiableTensor([4, 3], using: &generator)
        try gradientCheck(at: [x] + model.parameters) { model($0[0]) }
        // Saved under both names, loaded from both.
        let file = try makeTemporaryDirectory().appendingPathComponent("tied.safetensors").path
        try model.save(to: file)
        let weights = shared.weight.values
        shared.weight.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        try model.load(from: file)
        XCTAssertEqual(shared.weight.values, weights)
    }

    func testNestedModelNamesAndSaveLoadRoundTrip() throws {
        func make(seed: UInt64) -> Model {
            let model = Model {
                Model { Linear(2, 3); BatchNorm(features: 3) }
                Stack()
            }
            model.initializeParameters(seed: seed)
            return model
        }
        let model = make(seed: 7)
        let names = model.namedStateTensors.map(\.name)
        XCTAssertEqual(names, [
            "0.0.weight", "0.0.bias", "0.1.weight", "0.1.bias", "0.1.running_mean",
            "0.1.running_var", "1.offset",
            "1.blocks.0.first.weight", "1.blocks.0.first.bias",
            "1.blocks.0.second.weight", "1.blocks.0.second.bias",
            "1.blocks.1.first.weight", "1.blocks.1.first.bias",
            "1.blocks.1.second.weight", "1.blocks.1.second.bias",
            "1.head.weight", "1.head.bias",
        ])
        XCTAssertEqual(model.parameters.count, 14, "the buffers are not parameters")
        XCTAssertEqual(model.storedTensors(in: .pytorch).map(\.name).sorted(),
                       (names + ["0.1.num_batches_tracked"]).sorted())

        var generator = SeededGenerator(seed: 8)
        let x = randomTensor([5, 2], using: &generator)
        let (x2, labels) = spiral(pointsPerClass: 4, classes: 2, seed: 9)
        _ = try model.fit(x2, labels: labels, optimizer: SGD(parameters: model.parameters,
                                                              learningRate: 0.1),
                          epochs: 2, batchSize: 4)
        let file = try makeTemporaryDirectory().appendingPathComponent("nested.safetensors").path
        try model.save(to: file)
        let copy = make(seed: 10)
        XCTAssertNotEqual(copy.probabilities(x).values, model.probabilities(x).values)
        try copy.load(from: file)
        XCTAssertEqual(copy.probabilities(x).values, model.probabilities(x).values)
        XCTAssertEqual(copy.namedStateTensors.map(\.tensor.values),
                       model.namedStateTensors.map(\.tensor.values))
        XCTAssertEqual((copy.layers[0] as! Model).layers[1].namedCounters[0].counter.value, 4)
    }

    func testFunctionStylePassesNeedFunctions() throws {
        try assertStops(withMessage: "Model.backward needs every layer to be a Function") {
            let model = Model { Linear(2, 3); FeatureScale(features: 3) }
            _ = model.forward(Tensor(shape: [1, 2]))
            model.backward(Tensor(shape: [1, 3]))
        }
    }

    /// Through the graph too, `fit` allocates no buffers after its first epoch: every call's
    /// results and saved state come from the pool.
    func testGraphFitAllocatesNoBuffersAfterTheFirstEpoch() throws {
        var generator = SeededGenerator(seed: 21)
        let images = randomTensor([30, 1, 6, 6], using: &generator)
        let labels = (0..<30).map { Int32($0 % 3) }
        let model = Model {
            Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1)
            BatchNorm(features: 2)
            MaxPool2D(kernelSize: 2)
            Flatten()
            ResidualBlock(18)
            Dropout(probability: 0.1)
            Linear(18, 3)
        }
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var allocationsAfterEpoch: [Int] = []
        try model.fit(images, labels: labels, optimizer: optimizer, epochs: 4, batchSize: 8) { _ in
            allocationsAfterEpoch.append(BufferPool.allocations.load(ordering: .relaxed))
        }
        XCTAssertEqual(Set(allocationsAfterEpoch.dropFirst()).count, 1, "\(allocationsAfterEpoch)")
    }

    func testFitChecksTheBatchesOfNestedModelsLayers() {
        let (x, labels) = spiral(pointsPerClass: 3, classes: 3, seed: 20)   // 9 = 4 + 4 + 1
        let model = Model { Model { Linear(2, 4); BatchNorm(features: 4) }; Linear(4, 3) }
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
        XCTAssertThrowsError(try model.fit(x, labels: labels, optimizer: optimizer, epochs: 1,
                                           batchSize: 4)) {
            XCTAssertTrue("\($0)".contains("BatchNorm(4)"), "\($0)")
        }
        XCTAssertNoThrow(try model.fit(x, labels: labels, optimizer: optimizer, epochs: 1,
                                       batchSize: 4, dropLast: true))
    }

    func testComputedTensorsAreNotState() {
        final class Caching: Layer {
            let weight = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            var last: Tensor?
            func callAsFunction(_ x: Tensor) -> Tensor {
                last = x * weight
                return last!
            }
        }
        let layer = Caching()
        _ = layer(Tensor(shape: [2], values: [3, 4]))
        XCTAssertEqual(layer.namedStateTensors.map(\.name), ["weight"])
    }

    /// PyTorch loads a nested model's file with `load_state_dict(strict=True)` into the same
    /// modules and computes the same probabilities. Runs with the python named by
    /// DEEPLEARNING_TORCH_PYTHON (which must import torch and safetensors); skipped without it.
    func testPyTorchLoadsANestedModel() throws {
        guard let python = ProcessInfo.processInfo.environment["DEEPLEARNING_TORCH_PYTHON"] else {
            throw XCTSkip("DEEPLEARNING_TORCH_PYTHON is not set")
        }
        let model = Model {
            Linear(2, 3)
            Model { ResidualBlock(3); BatchNorm(features: 3) }
            Stack()
        }
        model.initializeParameters(seed: 19)
        let file = try makeTemporaryDirectory().appendingPathComponent("torch.safetensors").path
        try model.save(to: file)
        let x = Tensor(shape: [2, 2], values: [0.5, -1, 2, 0.25])
        let script = """
            import sys, torch, torch.nn as nn
            from safetensors.torch import load_file
            class Block(nn.Module):
                def __init__(s):
                    super().__init__(); s.first = nn.Linear(3, 3); s.second = nn.Linear(3, 3)
                def forward(s, x): return torch.relu(x + s.second(torch.relu(s.first(x))))
            class Stack(nn.Module):
                def __init__(s):
                    super().__init__(); s.blocks = nn.ModuleList([Block(), Block()])
                    s.register_buffer("offset", torch.zeros(3)); s.head = nn.Linear(3, 2)
                def forward(s, x):
                    x = x + s.offset
                    for b in s.blocks: x = b(x)
                    return s.head(x)
            m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(Block(), nn.BatchNorm1d(3)), Stack())
            m.load_state_dict(load_file(sys.argv[1]), strict=True)
            m.eval()
            y = torch.softmax(m(torch.tensor([[0.5, -1], [2, 0.25]])), 1)
            print(" ".join(repr(v) for v in y.flatten().tolist()))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, file]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let torch = text.split(separator: " ").compactMap { Float($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let ours = model.probabilities(x).values
        XCTAssertEqual(torch.count, ours.count)
        for (a, e) in zip(ours, torch) { XCTAssertEqual(a, e, accuracy: 1e-6) }
    }

    func testNestedModelSetsTrainingModeAndInitializesEveryLayer() {
        let dropout = Dropout(probability: 0.5)
        let inner = Model { Linear(2, 2); dropout }
        let model = Model { inner; Stack() }
        model.isTraining = false
        XCTAssertFalse(dropout.isTraining)
        XCTAssertFalse(inner.isTraining)
        model.initializeParameters(seed: 11)
        let first = model.parameters.map(\.values)
        model.initializeParameters(seed: 12)
        XCTAssertNotEqual(model.parameters.map(\.values), first)
        model.initializeParameters(seed: 11)
        XCTAssertEqual(model.parameters.map(\.values), first)
    }

    func testBuilderAcceptsIfElseForAndArrays() {
        func make(blocks: Int, normalized: Bool, wide: Bool) -> Model {
            Model {
                Linear(2, 4)
                for _ in 0..<blocks { ResidualBlock(4) }
                if normalized { BatchNorm(features: 4) }
                if wide {
                    Linear(4, 8)
                    ReLU()
                } else {
                    [Tanh(), Linear(4, 8)]
                }
                Linear(8, 3)
            }
        }
        let plain = make(blocks: 0, normalized: false, wide: false)
        XCTAssertEqual(plain.layers.map(\.description),
                       ["Linear(2 → 4)", "Tanh", "Linear(4 → 8)", "Linear(8 → 3)"])
        let blocks = [ResidualBlock(8), ResidualBlock(8)]
        XCTAssertEqual(Model { Linear(2, 8); blocks }.layers.count, 3)
        let full = make(blocks: 2, normalized: true, wide: true)
        XCTAssertEqual(full.layers.map(\.description), [
            "Linear(2 → 4)", "ResidualBlock", "ResidualBlock", "BatchNorm(4)", "Linear(4 → 8)",
            "ReLU", "Linear(8 → 3)",
        ])
    }

    func testModelMixingAUserLayerAndBuiltInLayersTrains() throws {
        let (x, labels) = spiral(pointsPerClass: 40, classes: 3, seed: 13)
        let scale = FeatureScale(features: 32)
        let model = Model { Linear(2, 32); ReLU(); scale; Dropout(probability: 0.1); Linear(32, 3) }
        model.initializeParameters(seed: 14)
        XCTAssertTrue(model.parameters.contains { $0 === scale.scale })
        XCTAssertEqual(model.namedStateTensors.map(\.name),
                       ["0.weight", "0.bias", "2.scale", "4.weight", "4.bias"])
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        let losses = try model.fit(x, labels: labels, optimizer: optimizer, epochs: 30,
                                   batchSize: 20)
        XCTAssertLessThan(losses.last!, 0.7 * losses.first!)
        XCTAssertNotEqual(scale.scale.values, Array(repeating: 1, count: 32))
        XCTAssertEqual(model.predict(x).count, labels.count)
    }

    /// Where both paths run the same kernels on the same network, `fit` gives the same losses
    /// and parameters through the graph as through the fused passes, bit for bit.
    private func assertSameTraining(_ make: () -> Model, inputs: Tensor, labels: [Int32],
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        var results: [(losses: [Float], parameters: [[Float]])] = []
        for fused in [true, false] {
            let model = make()
            model.allowsFusedPath = fused
            model.initializeParameters(seed: 15)
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
            let losses = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 20,
                                       batchSize: 20, seed: 16)
            results.append((losses, model.parameters.map(\.values)))
        }
        XCTAssertEqual(results[0].losses.map(\.bitPattern), results[1].losses.map(\.bitPattern),
                       file: file, line: line)
        XCTAssertEqual(results[0].parameters, results[1].parameters, file: file, line: line)
    }

    /// A layer used twice keeps its last call's input and buffers on the fused path, so such a
    /// model trains through the graph: a ReLU shared by two places trains as two ReLUs, bit
    /// for bit, and a Linear applied twice (its weight tied) as the graph does.
    func testALayerUsedTwiceTrainsThroughTheGraph() throws {
        var generator = SeededGenerator(seed: 19)
        let x = randomTensor([64, 16], using: &generator)
        let labels = (0..<64).map { Int32($0 % 3) }
        func train(_ model: Model, fused: Bool = true) throws -> [[Float]] {
            model.initializeParameters(seed: 20)
            model.allowsFusedPath = fused
            try model.fit(x, labels: labels,
                          optimizer: SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9),
                          epochs: 2, batchSize: 32, seed: 21)
            return model.parameters.map(\.values)
        }
        let relu = ReLU()
        XCTAssertEqual(try train(Model([Linear(16, 32), relu, Linear(32, 32), relu, Linear(32, 3)])),
                       try train(Model([Linear(16, 32), ReLU(), Linear(32, 32), ReLU(), Linear(32, 3)])))
        let tied = Linear(32, 32)
        func tiedModel() -> Model { Model([Linear(16, 32), ReLU(), tied, ReLU(), tied, ReLU(), Linear(32, 3)]) }
        XCTAssertEqual(try train(tiedModel()), try train(tiedModel(), fused: false))
    }

    func testGraphAndFusedFitGiveTheSameLossesOnTheSpiralNetwork() throws {
        let (x, labels) = spiral(pointsPerClass: 50, classes: 3, seed: 17)
        try assertSameTraining({ Model { Linear(2, 100); ReLU(); Linear(100, 3) } },
                               inputs: x, labels: labels)
        try assertSameTraining({
            Model { Linear(2, 32); ReLU(); Dropout(probability: 0.2); Linear(32, 32); Sigmoid()
                    BatchNorm(features: 32); Linear(32, 3) }
        }, inputs: x, labels: labels)
    }

    func testGraphAndFusedFitGiveTheSameLossesOnASmallCNN() throws {
        var generator = SeededGenerator(seed: 18)
        let images = randomTensor([60, 1, 8, 8], using: &generator)
        let labels = (0..<60).map { Int32($0 % 3) }
        try assertSameTraining({
            Model {
                Conv2D(inputChannels: 1, outputChannels: 4, kernelSize: 3, padding: 1)
                BatchNorm(features: 4)
                ReLU()
                MaxPool2D(kernelSize: 2)
                Conv2D(inputChannels: 4, outputChannels: 4, kernelSize: 3, padding: 1)
                ReLU()
                Conv2D(inputChannels: 4, outputChannels: 4, kernelSize: 3, stride: 2, padding: 1)
                Tanh()
                AvgPool2D(kernelSize: 2)
                Flatten()
                Linear(4, 3)
            }
        }, inputs: images, labels: labels)
    }

    /// A model added to itself would run without end: `add` refuses it, naming the position.
    func testAddingAModelToItselfStops() throws {
        try assertStops(withMessage: "Model.add: the layer added as layer 1 is the model itself; with it, Model { ReLU } is its own layer 1, so running it or walking its layers would never end; a layer cannot hold itself, directly or through the layers it holds") {
            let model = Model { ReLU() }
            model.add(model)
        }
    }

    /// A cycle through a nested model is refused at the `add` that would close it, named by
    /// the path at which the added layer holds the model.
    func testAddingAModelThatHoldsThisOneStops() throws {
        try assertStops(withMessage: "Model.add: the layer added as layer 1, Model { Linear(2 → 2); Model { ReLU } }, holds this model at its path 1; with it, Model { ReLU } is its own layer 1.1, so running it or walking its layers would never end") {
            let outer = Model { Linear(2, 2) }
            let inner = Model { ReLU() }
            outer.add(inner)
            inner.add(outer)
        }
    }

    /// Deeper cycles are refused too, through models and through a layer of one's own that
    /// keeps a model.
    func testAddingALayerThatHoldsThisModelDeeplyStops() throws {
        final class Wrapper: Layer {
            let inner: Model
            init(_ inner: Model) { self.inner = inner }
            func callAsFunction(_ input: Tensor) -> Tensor { inner(input) }
        }
        try assertStops(withMessage: "Model.add: the layer added as layer 1, Wrapper, holds this model at its path inner.1.0; with it, Model { ReLU } is its own layer 1.inner.1.0, so running it or walking its layers would never end") {
            let first = Model { ReLU() }
            let second = Model()
            let third = Model { ReLU() }
            first.add(second)
            second.add(third)
            third.add(Wrapper(first))
        }
    }

    /// A model may hold another twice, or hold one that another model holds too: no cycle.
    func testAModelMayHoldANestedModelTwice() {
        let inner = Model { Linear(2, 2) }
        let outer = Model { inner; ReLU() }
        outer.add(inner)
        Model { outer }.add(inner)
        XCTAssertEqual(outer.layers.count, 3)
        XCTAssertEqual(outer(Tensor(shape: [1, 2])).shape, [1, 2])
    }
}
