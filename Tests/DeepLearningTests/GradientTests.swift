import XCTest
@testable import DeepLearning

/// Every `backward` against central finite differences.
final class GradientTests: XCTestCase {
    func testLinearBackwardMatchesFiniteDifferences() {
        var generator = SeededGenerator(seed: 1)
        for (batch, inputs, outputs) in [(1, 1, 1), (4, 3, 5), (7, 13, 2)] {
            let layer = Linear(inputs, outputs, biasInitializer: .uniform(low: -1, high: 1), seed: 2)
            let x = randomTensor([batch, inputs], using: &generator)
            let dy = randomTensor([batch, outputs], using: &generator)
            let loss = { weightedSum(layer.forward(x), dy) }

            _ = layer.forward(x)
            let dx = layer.backward(dy).values
            assertClose(dx, numericalGradient(of: loss, at: x.value, count: x.count),
                        tolerance: 1e-3, "dx \(batch)x\(inputs)x\(outputs)")
            assertClose(layer.weight.gradients,
                        numericalGradient(of: loss, at: layer.weight.value, count: layer.weight.count),
                        tolerance: 1e-3, "dW")
            assertClose(layer.bias.gradients,
                        numericalGradient(of: loss, at: layer.bias.value, count: layer.bias.count),
                        tolerance: 1e-3, "db")
        }
    }

    func testLinearBackwardAccumulatesParameterGradients() {
        var generator = SeededGenerator(seed: 3)
        let layer = Linear(3, 4, seed: 4)
        let x = randomTensor([5, 3], using: &generator)
        let dy = randomTensor([5, 4], using: &generator)
        _ = layer.forward(x)
        _ = layer.backward(dy)
        let once = layer.weight.gradients + layer.bias.gradients
        _ = layer.backward(dy)
        let twice = layer.weight.gradients + layer.bias.gradients
        assertClose(twice, once.map { 2 * Double($0) }, tolerance: 1e-6, "accumulated")
    }

    /// dx of a parameterless layer against finite differences at inputs `x`.
    private func checkInputGradient(of layer: some Function, at x: Tensor,
                                    using generator: inout SeededGenerator,
                                    file: StaticString = #filePath, line: UInt = #line) {
        let dy = randomTensor(x.shape, using: &generator)
        _ = layer.forward(x)
        let dx = layer.backward(dy).values
        let numeric = numericalGradient(of: { weightedSum(layer.forward(x), dy) },
                                        at: x.value, count: x.count, step: 1e-3)
        assertClose(dx, numeric, tolerance: 2e-3, "\(layer) dx", file: file, line: line)
    }

    func testActivationBackwardsMatchFiniteDifferences() {
        var generator = SeededGenerator(seed: 5)
        // Values away from ReLU's kink at 0, where its derivative is not defined.
        let awayFromZero = Tensor(shape: [6, 7], values: (0..<42).map { _ in
            Float.random(in: 0.1..<1, using: &generator) * (Bool.random(using: &generator) ? 1 : -1)
        })
        checkInputGradient(of: ReLU(), at: awayFromZero, using: &generator)
        let x = randomTensor([5, 4], in: -3..<3, using: &generator)
        checkInputGradient(of: Sigmoid(), at: x, using: &generator)
        checkInputGradient(of: Tanh(), at: x, using: &generator)
        checkInputGradient(of: Softmax(), at: x, using: &generator)
    }

    func testMultiMarginAndMeanSquaredErrorBackwardsMatchFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 12)
        let scores = randomTensor([6, 4], in: -1..<1, using: &generator)
        let labels: [Int32] = [0, 3, 1, 2, 2, 0]
        let hinge = MultiMarginLoss()
        _ = try hinge.forward(scores, labels: labels)
        // Piecewise linear: a small step stays on one piece unless a margin is within it.
        assertClose(hinge.backward().values,
                    numericalGradient(of: { Double(try! hinge.forward(scores, labels: labels)) },
                                      at: scores.value, count: scores.count, step: 1e-3),
                    tolerance: 1e-3, "hinge dx")
        let targets = randomTensor([6, 4], using: &generator)
        let mse = MeanSquaredError()
        _ = mse.forward(scores, targets: targets)
        assertClose(mse.backward().values,
                    numericalGradient(of: { Double(mse.forward(scores, targets: targets)) },
                                      at: scores.value, count: scores.count, step: 1e-2),
                    tolerance: 1e-3, "mse dp")
    }

    func testSoftmaxCrossEntropyBackwardMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 6)
        let loss = SoftmaxCrossEntropy()
        let logits = randomTensor([5, 4], in: -3..<3, using: &generator)
        let labels: [Int32] = [0, 3, 1, 1, 2]
        _ = try loss.forward(logits, labels: labels)
        let analytic = loss.backward().values
        let numeric = numericalGradient(of: { Double(try! loss.forward(logits, labels: labels)) },
                                        at: logits.value, count: logits.count, step: 1e-2)
        assertClose(analytic, numeric, tolerance: 2e-3, "dlogits")
    }

    func testModelBackwardMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 7)
        let model = Model {
            Linear(3, 8)
            ReLU()
            Linear(8, 4)
        }
        model.initializeParameters(seed: 8)
        let loss = SoftmaxCrossEntropy()
        let x = randomTensor([6, 3], using: &generator)
        let labels: [Int32] = [0, 1, 2, 3, 0, 1]
        let objective = { Double(try! loss.forward(model.forward(x), labels: labels)) }
        _ = objective()
        for parameter in model.parameters { parameter.zeroGradient() }
        model.backward(loss.backward())
        for (index, parameter) in model.parameters.enumerated() {
            assertClose(parameter.gradients,
                        numericalGradient(of: objective, at: parameter.value,
                                          count: parameter.count, step: 1e-3),
                        tolerance: 5e-3, "parameter \(index)")
        }
    }

    /// Training's backward pass, which skips the first layer's input gradient, accumulates
    /// the same parameter gradients as the full one.
    func testAccumulateParameterGradientsMatchesBackward() throws {
        var generator = SeededGenerator(seed: 9)
        let model = Model { Linear(3, 6); ReLU(); Linear(6, 2) }
        model.initializeParameters(seed: 10)
        let x = randomTensor([5, 3], using: &generator)
        let dy = randomTensor([5, 2], using: &generator)
        _ = model.forward(x)
        model.backward(dy)
        let full = model.parameters.flatMap(\.gradients)
        for parameter in model.parameters { parameter.zeroGradient() }
        model.accumulateParameterGradients(dy)
        XCTAssertEqual(model.parameters.flatMap(\.gradients), full)
        XCTAssertTrue(full.contains { $0 != 0 })
    }
}
