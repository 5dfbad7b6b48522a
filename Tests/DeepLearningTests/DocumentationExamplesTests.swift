import DeepLearning
import Foundation
import XCTest

// The code samples of the DocC articles (Sources/DeepLearning/DeepLearning.docc), verbatim
// inside the set-up they assume, so that a change of the API that breaks one fails here.

private final class ResidualBlock: Layer {
    let first: Linear
    let second: Linear

    init(features: Int) {
        first = Linear(features, features)
        second = Linear(features, features)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        relu(x + second(relu(first(x))))
    }
}

private final class FeatureScale: Function {
    let features: Int
    /// `[features]`, initially ones.
    let scale: Tensor
    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    init(features: Int) {
        self.features = features
        scale = Tensor(shape: [features], values: Array(repeating: 1, count: features),
                       requiresGradient: true)
    }

    var parameters: [Tensor] { [scale] }
    var namedParameters: [(name: String, tensor: Tensor)] { [(name: "scale", tensor: scale)] }

    func initializeParameters(using generator: inout SeededGenerator) {
        scale.withUnsafeMutableBufferPointer { $0.update(repeating: 1) }
    }

    // x: [batch, features] → y: [batch, features]; keeps x for backward.
    func forward(_ x: Tensor) -> Tensor {
        guard x.shape.count == 2 && x.shape[1] == features else {
            fatalError("FeatureScale(\(features)): input of shape \(x.shape) does not fit; "
                       + "expected [batch, \(features)]")
        }
        if output?.shape != x.shape { output = Tensor(shape: x.shape) }
        let y = output!
        x.withUnsafeBufferPointer { x in
            scale.withUnsafeBufferPointer { w in
                y.withUnsafeMutableBufferPointer { y in
                    for i in 0..<x.count { y[i] = x[i] * w[i % features] }
                }
            }
        }
        input = x
        return y
    }

    // dy: [batch, features]; dw[j] += Σ_i dy[i, j] · x[i, j], dx[i, j] = dy[i, j] · w[j].
    func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { fatalError("FeatureScale: backward before forward") }
        if inputGradient?.shape != dy.shape { inputGradient = Tensor(shape: dy.shape) }
        let dx = inputGradient!
        dy.withUnsafeBufferPointer { dy in
            x.withUnsafeBufferPointer { x in
                scale.withUnsafeMutableGradientBufferPointer { dw in
                    for i in 0..<dy.count { dw[i % features] += dy[i] * x[i] }
                }
            }
            scale.withUnsafeBufferPointer { w in
                dx.withUnsafeMutableBufferPointer { dx in
                    for i in 0..<dy.count { dx[i] = dy[i] * w[i % features] }
                }
            }
        }
        return dx
    }
}

final class DocumentationExamplesTests: XCTestCase {
    /// A temporary working directory for the samples that save files by relative paths.
    private func inTemporaryDirectory(_ body: () throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("DocumentationExamples-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(directory.path))
        defer {
            _ = FileManager.default.changeCurrentDirectoryPath(previous)
            try? FileManager.default.removeItem(at: directory)
        }
        try body()
    }

    func testLandingPage() throws {
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3)   // [300, 2], 300 labels
        let model = Model {
            Linear(2, 100)
            ReLU()
            Linear(100, 3)
        }
        model.initializeParameters(seed: 1)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 200, batchSize: 20)
        let accuracy = try model.accuracy(inputs, labels: labels)
        XCTAssertGreaterThan(accuracy, 0.9)
    }

    func testGettingStarted() throws {
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3)   // [300, 2], 300 labels

        let model = Model {
            Linear(2, 100)          // He-normal weights, zero biases by default
            ReLU()
            Linear(100, 3)
        }
        model.initializeParameters(seed: 1)

        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9,
                            weightDecay: 0.001)
        let lossPerEpoch = try model.fit(inputs, labels: labels, optimizer: optimizer,
                                         epochs: 200, batchSize: 20) { progress in
            if progress.epoch % 50 == 0 { print(progress.epoch, progress.loss) }
        }

        let classes = model.predict(inputs)                  // [Int32], one class per row
        let accuracy = try model.accuracy(inputs, labels: labels)
        XCTAssertEqual(lossPerEpoch.count, 200)
        XCTAssertEqual(classes.count, 300)
        XCTAssertGreaterThan(accuracy, 0.9)

        let x = Tensor(shape: [200, 1], values: (0..<200).map { Float($0) / 100 - 1 })
        let y = Tensor(shape: [200, 1], values: x.values.map { $0 * $0 })   // y = x²
        let regression = Model {
            Linear(1, 32)
            Tanh()
            Linear(32, 1)
        }
        regression.initializeParameters(seed: 1)
        let regressionLosses = try regression.fit(x, targets: y, loss: HuberLoss(delta: 0.5),
                                              optimizer: Adam(parameters: regression.parameters,
                                                              learningRate: 1e-2),
                                              epochs: 100, batchSize: 20)
        XCTAssertLessThan(regressionLosses.last!, regressionLosses.first!)

        var generator = SeededGenerator(seed: 3)
        let images = Tensor(shape: [64, 1, 8, 8],
                            values: (0..<64 * 64).map { _ in Float.random(in: 0..<1, using: &generator) })
        let digits = (0..<64).map { Int32($0 % 10) }
        try inTemporaryDirectory {
            let cnn = Model {
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: 1)
                ReLU()
                MaxPool2D(kernelSize: 2)
                Flatten()
                Linear(16 * 4 * 4, 10)
            }
            cnn.initializeParameters(seed: 1)
            let adam = Adam(parameters: cnn.parameters, learningRate: 1e-3)
            let schedule = CosineAnnealing(optimizer: adam, epochs: 30)
            try cnn.fit(images, labels: digits, optimizer: adam, schedule: schedule,
                        epochs: 30, batchSize: 32)                    // images: [N, 1, 8, 8]
            try cnn.save(to: "digits.safetensors")
            XCTAssertTrue(FileManager.default.fileExists(atPath: "digits.safetensors"))
        }

        let net = Model([
            Conv2D(inputChannels: 1, outputChannels: 8, kernelSize: 3, padding: 1,
                   weightInitializer: .glorotUniform, biasInitializer: .zeros, seed: 3),
            BatchNorm(features: 8, momentum: 0.1, eps: 1e-5),
            ReLU(),
            AvgPool2D(kernelSize: 3, stride: 2, ceilMode: true),   // 8 × 8 → 4 × 4
            MaxPool2D(kernelSize: 2, stride: 1),                   // 4 × 4 → 3 × 3
            Flatten(),
        ])
        net.add(Linear(8 * 3 * 3, 10, weightInitializer: .heUniform,
                       biasInitializer: .constant(0.01), seed: 4))
        // net.layers.count == 7
        XCTAssertEqual(net.layers.count, 7)
        XCTAssertEqual(net.forward(images).shape, [64, 10])
    }

    func testWritingALayer() throws {
        let model = Model {
            Linear(2, 16)
            ResidualBlock(features: 16)
            Linear(16, 3)
        }
        model.initializeParameters(seed: 0)
        // model.parameters: 8 tensors; names "0.weight", "1.first.weight", ..., "2.bias"
        XCTAssertEqual(model.parameters.count, 8)
        XCTAssertEqual(model.namedStateTensors.first?.name, "0.weight")
        XCTAssertEqual(model.namedStateTensors[2].name, "1.first.weight")
        XCTAssertEqual(model.namedStateTensors.last?.name, "2.bias")

        let block = Model { ResidualBlock(features: 4) }
        block.initializeParameters(seed: 14)   // every relu input at least 0.03 from 0 below
        let x = Tensor(shape: [3, 4], values: (0..<12).map { Float($0) / 6 - 1 },
                       requiresGradient: true)
        try gradientCheck(at: [x]) { inputs in block(inputs[0]).sum() }

        let scaled = Model {
            Linear(2, 8)
            FeatureScale(features: 8)
            ReLU()
            Linear(8, 3)
        }
        // The hand-written backward pass against finite differences, through the graph.
        let scale = FeatureScale(features: 3)
        scale.scale.withUnsafeMutableBufferPointer { $0[1] = -2 }
        let input = Tensor(shape: [2, 3], values: [0.5, -1, 2, 1.5, 0.25, -0.75],
                           requiresGradient: true)
        try gradientCheck(at: [input]) { inputs in (scale(inputs[0]) * inputs[0]).sum() }
        let (inputs, labels) = spiral(pointsPerClass: 20, classes: 3)
        scaled.initializeParameters(seed: 2)
        let losses = try scaled.fit(inputs, labels: labels,
                                    optimizer: SGD(parameters: scaled.parameters, learningRate: 0.1),
                                    epochs: 20, batchSize: 10)
        XCTAssertLessThan(losses.last!, losses.first!)
    }

    func testTrainingLoops() throws {
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3)
        let model = Model {
            Linear(2, 100)
            ReLU()
            Linear(100, 3)
        }
        model.initializeParameters(seed: 1)
        let loss = SoftmaxCrossEntropy()
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        let schedule = StepDecay(optimizer: optimizer, stepSize: 50, gamma: 0.5)
        let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 20, seed: 7)

        for epoch in 1...200 {
            var total: Float = 0
            try loader.forEachBatch { _, x, y in
                optimizer.zeroGrad()
                let output = model.forward(x)
                total += try loss.forward(output, labels: y)
                _ = model.backward(loss.backward())
                optimizer.step()
            }
            schedule.step()                      // one step per epoch
            if epoch % 50 == 0 { print(epoch, total / Float(loader.batchCount)) }
        }
        XCTAssertGreaterThan(try model.accuracy(inputs, labels: labels), 0.9)

        try loader.forEachBatch { _, x, y in
            optimizer.zeroGrad()
            _ = try loss.forward(model.forward(x), labels: y)
            model.accumulateParameterGradients(loss.backward(), thenStep: optimizer)
        }

        let radii = sqrt((inputs * inputs).sum(alongAxis: 1, keepingAxis: true))   // [300, 1]
        let regression = Model {
            Linear(2, 32)
            Tanh()
            Linear(32, 1)
        }
        regression.initializeParameters(seed: 1)
        let meanSquared = MeanSquaredError()
        let adam = Adam(parameters: regression.parameters, learningRate: 1e-2)
        let pairs = try MiniBatchLoader(inputs: inputs, targets: radii, batchSize: 20,
                                        shuffle: true, dropLast: false, seed: 3)

        for _ in 1...100 {
            pairs.forEachTargetBatch { _, x, t in
                adam.zeroGrad()
                _ = meanSquared.forward(regression.forward(x), targets: t)
                _ = regression.backward(meanSquared.backward())
                adam.step()
            }
        }
        XCTAssertLessThan(meanSquared.forward(regression.forward(inputs), targets: radii), 5e-3)

        for _ in 1...200 {
            try loader.forEachBatch { _, x, y in
                optimizer.zeroGrad()
                let lossValue = try crossEntropy(model(x), labels: Array(y))   // a scalar tensor
                lossValue.backward()
                optimizer.step()
            }
        }

        model.setTraining(false)                 // Dropout off, BatchNorm's running statistics
        let logits = withoutGradientRecording { model(inputs) }
        model.setTraining(true)
        XCTAssertEqual(logits.shape, [300, 3])

        let penalty = Penalty(parameters: [model.parameters[0]], l2: 1e-4)
        try loader.forEachBatch { _, x, y in
            optimizer.zeroGrad()
            var value = try loss.forward(model.forward(x), labels: y)
            _ = model.backward(loss.backward())
            value += penalty.apply()
            optimizer.step()
        }
    }

    func testSavingAndLoading() throws {
        try inTemporaryDirectory {
            let (inputs, labels) = spiral(pointsPerClass: 20, classes: 3)
            // The objects the sample assumes, made alike for each run.
            func made() -> (Model, SGD, StepDecay) {
                let model = Model([Linear(2, 100), ReLU(), Linear(100, 3)])
                model.initializeParameters(seed: 1)
                let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
                return (model, optimizer, StepDecay(optimizer: optimizer, stepSize: 30))
            }
            var (model, optimizer, schedule) = made()
            try model.save(to: "model.safetensors")

            let copy = Model {
                Linear(2, 100)
                ReLU()
                Linear(100, 3)
            }
            try copy.load(from: "model.safetensors")
            XCTAssertEqual(copy.parameters.flatMap(\.values), model.parameters.flatMap(\.values))

            let larger = Model {
                Linear(2, 100)
                ReLU()
                Linear(100, 3)
                Linear(3, 5)
            }
            let unmatched = try larger.load(from: "model.safetensors", strict: false)
            XCTAssertEqual(unmatched.missing, ["3.weight", "3.bias"])   // left as drawn
            XCTAssertEqual(unmatched.unexpected, [])

            let files = Checkpointing(modelPath: "run.safetensors", checkpointPath: "run.checkpoint",
                                      every: 5)
            try model.fit(inputs, labels: labels, optimizer: optimizer, schedule: schedule,
                          epochs: 100, batchSize: 20, checkpoints: files)
            let uninterrupted = model.parameters.flatMap(\.values)
            (model, optimizer, schedule) = made()
            try model.fit(inputs, labels: labels, optimizer: optimizer, schedule: schedule,
                          epochs: 60, batchSize: 20, checkpoints: files)
            (model, optimizer, schedule) = made()

            // Later, perhaps in another process, with the model, optimizer and schedule made as before:
            try model.load(from: files.modelPath)
            try model.fit(inputs, labels: labels, optimizer: optimizer, schedule: schedule,
                          epochs: 100, batchSize: 20, checkpoints: files,
                          resumingFrom: files.checkpointPath)
            XCTAssertEqual(model.parameters.flatMap(\.values), uninterrupted)

            let loss = SoftmaxCrossEntropy()
            let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: 20)
            for epoch in 1...10 {
                try loader.forEachBatch { _, x, y in
                    optimizer.zeroGrad()
                    _ = try loss.forward(model.forward(x), labels: y)
                    _ = model.backward(loss.backward())
                    optimizer.step()
                }
                schedule.step()
                try model.save(to: "model.safetensors")
                try model.saveCheckpoint(to: "run.checkpoint", optimizer: optimizer,
                                         schedule: schedule, epoch: epoch, loader: loader)
            }

            try model.load(from: "model.safetensors")
            let lastEpoch = try model.restoreCheckpoint(from: "run.checkpoint", optimizer: optimizer,
                                                        schedule: schedule, loader: loader)
            XCTAssertEqual(lastEpoch, 10)
        }
    }

    func testThreadsAndReproducibility() throws {
        defer { Threads.reset() }
        Threads.count = 2      // at most two threads from now on
        Threads.reset()        // back to the default

        func trainedWeights() throws -> [Float] {
            let (inputs, labels) = spiral(pointsPerClass: 50, classes: 3, seed: 0)
            let model = Model {
                Linear(2, 32)
                ReLU()
                Dropout(probability: 0.1)
                Linear(32, 3)
            }
            model.initializeParameters(seed: 42)
            let optimizer = Adam(parameters: model.parameters)
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 5, batchSize: 16,
                          seed: 7)
            return model.parameters.flatMap(\.values)
        }
        Threads.count = 1
        let serial = try trainedWeights()
        Threads.reset()
        let parallel = try trainedWeights()
        // serial == parallel, bit for bit
        XCTAssertEqual(serial.map(\.bitPattern), parallel.map(\.bitPattern))

        var generator = SeededGenerator(seed: 5)
        let noise = (0..<4).map { _ in generator.nextNormal() }   // four samples of N(0, 1)
        var resumed = SeededGenerator(state: generator.state)
        // resumed.next() == generator.next(), and so on: the same sequence from here
        XCTAssertEqual(noise.count, 4)
        XCTAssertEqual((0..<8).map { _ in resumed.next() }, (0..<8).map { _ in generator.next() })
    }

    func testPerformance() {
        let fused = Model {            // only Functions: the fused path
            Linear(784, 256)
            ReLU()
            Linear(256, 10)
        }
        let graph = Model {            // a nested Model: the graph
            Model {
                Linear(784, 256)
                ReLU()
            }
            Linear(256, 10)
        }
        XCTAssertEqual(fused.parameters.count, graph.parameters.count)
    }
}
