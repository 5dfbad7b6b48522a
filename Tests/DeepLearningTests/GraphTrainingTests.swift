import XCTest
@testable import DeepLearning

/// Training loops written with operations: no buffer allocated after the first step (the
/// pool), and the same bits as the layers where both run the same kernels.
final class GraphTrainingTests: XCTestCase {
    /// relu(x·W1 + b1)·W2 + b2 with the given parameters.
    private func logits(_ x: Tensor, _ p: [Tensor]) -> Tensor {
        matmul(relu(matmul(x, p[0]) + p[1]), p[2]) + p[3]
    }

    private func parameters(seed: UInt64) -> [Tensor] {
        var generator = SeededGenerator(seed: seed)
        let shapes = [[2, 16], [16], [16, 3], [3]]
        return shapes.map { shape in
            let tensor = randomTensor(shape, in: -1..<1, using: &generator)
            tensor.requiresGradient = true
            return tensor
        }
    }

    func testATrainingLoopOfOperationsAllocatesNoBuffersAfterItsFirstStep() throws {
        let (inputs, labels) = spiral(pointsPerClass: 30, classes: 3, seed: 1) // 90 = 4×20 + 10
        let p = parameters(seed: 2)
        let optimizer = SGD(parameters: p, learningRate: 0.1, momentum: 0.9)
        var allocations: [Int] = []
        var losses: [Float] = []
        for _ in 0..<3 {
            for start in stride(from: 0, to: 90, by: 20) {
                let end = min(start + 20, 90)
                let loss = try crossEntropy(logits(inputs.rows(start..<end), p),
                                            labels: Array(labels[start..<end]))
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                losses.append(loss.scalar)
                allocations.append(BufferPool.allocations.load(ordering: .relaxed))
            }
        }
        // After the first epoch's batches (the last one smaller), nothing is allocated.
        XCTAssertEqual(Set(allocations.dropFirst(5)).count, 1, "\(allocations)")
        XCTAssertLessThan(losses.suffix(5).reduce(0, +), losses.prefix(5).reduce(0, +))
    }

    /// No kernel of the graph splits a sum between threads: training with operations is the
    /// same bit for bit on 1 and 2 threads, at sizes where the element-wise, broadcasting and
    /// GEMM kernels go parallel.
    func testTrainingWithOperationsIsIndependentOfTheThreadCount() throws {
        defer { Threads.reset() }
        let (inputs, labels) = spiral(pointsPerClass: 100, classes: 3, seed: 5)
        func train(threads: Int) throws -> [Float] {
            Threads.count = threads
            var generator = SeededGenerator(seed: 6)
            let p = [[2, 2000], [2000], [2000, 3], [3]].map {
                differentiableTensor($0, in: -0.1..<0.1, using: &generator)
            }
            let optimizer = SGD(parameters: p, learningRate: 0.1, momentum: 0.9)
            var trace: [Float] = []
            for _ in 0..<3 {
                let hidden = gelu(matmul(inputs, p[0]) + p[1])
                let output = matmul(hidden, p[2]) + p[3]
                let loss = try crossEntropy(output, labels: labels)
                    + meanSquaredError(softmax(output), softmax(output).detached()) * 0.5
                    + hidden.max(alongAxis: 0).values.mean() * 0.01
                optimizer.zeroGrad()
                loss.backward()
                optimizer.step()
                trace.append(loss.scalar)
            }
            return trace + p.flatMap(\.values)
        }
        let serial = try train(threads: 1), parallel = try train(threads: 2)
        XCTAssertEqual(serial.map(\.bitPattern), parallel.map(\.bitPattern))
    }

    /// Operations and layers run the same kernels on Linear → ReLU → Linear → softmax
    /// cross-entropy: the same loss and gradients, bit for bit.
    func testOperationsGiveTheLayersBitsForTheSameNetwork() throws {
        let (inputs, labels) = spiral(pointsPerClass: 10, classes: 3, seed: 3)
        let p = parameters(seed: 4)
        let loss = try crossEntropy(logits(inputs, p), labels: labels)
        loss.backward()

        let first = Linear(2, 16), second = Linear(16, 3), relu = ReLU()
        for (layer, (weight, bias)) in [(first, (p[0], p[1])), (second, (p[2], p[3]))] {
            layer.weight.value.update(from: weight.value, count: weight.count)
            layer.bias.value.update(from: bias.value, count: bias.count)
        }
        let crossEntropyLayer = SoftmaxCrossEntropy()
        let value = try crossEntropyLayer.forward(
            second.forward(relu.forward(first.forward(inputs))), labels: labels)
        first.accumulateParameterGradients(relu.backward(second.backward(crossEntropyLayer.backward())))
        XCTAssertEqual(loss.scalar.bitPattern, value.bitPattern)
        let layerParameters = [first.weight, first.bias, second.weight, second.bias]
        for (graph, layer) in zip(p, layerParameters) {
            XCTAssertEqual(graph.gradients.map(\.bitPattern), layer.gradients.map(\.bitPattern), "\(graph.shape)")
        }
    }
}

/// The README's examples of automatic differentiation, as written there.
final class ReadmeAutodiffExampleTests: XCTestCase {
    /// The pseudo-Huber loss: the mean of sqrt(1 + (p − t)²) − 1.
    func pseudoHuber(_ p: Tensor, _ t: Tensor) -> Tensor { (sqrt(pow(p - t, 2) + 1) - 1).mean() }

    func testACustomLossIsDifferentiated() throws {
        var generator = SeededGenerator(seed: 8)
        let p = randomTensor([4, 3], in: -2..<2, using: &generator)
        let t = randomTensor([4, 3], in: -2..<2, using: &generator)
        p.requiresGradient = true
        t.requiresGradient = true
        try gradientCheck(at: [p, t]) { pseudoHuber($0[0], $0[1]) }
    }

    func testTheHandWrittenTrainingLoopLearnsTheSpiral() throws {
        let (x, labels) = spiral(pointsPerClass: 100, classes: 3)            // [300, 2], 300 labels
        var generator = SeededGenerator(seed: 1)
        let w1 = Tensor(shape: [2, 100]), b1 = Tensor(shape: [100])
        let w2 = Tensor(shape: [100, 3]), b2 = Tensor(shape: [3])
        Initializer.heNormal.fill(w1, fanIn: 2, fanOut: 100, using: &generator)
        Initializer.heNormal.fill(w2, fanIn: 100, fanOut: 3, using: &generator)
        let parameters = [w1, b1, w2, b2]
        for p in parameters { p.requiresGradient = true }
        let optimizer = SGD(parameters: parameters, learningRate: 0.5, momentum: 0.9)
        for _ in 0..<300 {
            let logits = matmul(relu(matmul(x, w1) + b1), w2) + b2     // b1 [100] broadcast over rows
            let loss = try crossEntropy(logits, labels: labels)
            optimizer.zeroGrad()
            loss.backward()                                             // frees the graph
            optimizer.step()
        }
        let probabilities = withoutGradientRecording { softmax(matmul(relu(matmul(x, w1) + b1), w2) + b2) }
        XCTAssertFalse(probabilities.requiresGradient)
        let predicted = probabilities.max(alongAxis: 1).indices
        let accuracy = Double(zip(predicted, labels).filter { $0 == Int($1) }.count) / 300
        XCTAssertGreaterThan(accuracy, 0.9)
    }
}
