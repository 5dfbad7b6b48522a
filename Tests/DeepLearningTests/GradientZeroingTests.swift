import XCTest
@testable import DeepLearning

/// `zeroGradient()` writes no zeros: the next backward pass overwrites the gradient instead
/// of adding to it. These tests check that nothing stale leaks through that shortcut.
final class GradientZeroingTests: XCTestCase {
    /// A layer's gradients after one backward pass from zeroed gradients, and after
    /// zeroGradient() over stale ones, are the same bits; a second pass adds to them.
    private func checkOverwriteThenAccumulate(_ layer: some Function, inputShape: [Int],
                                              seed: UInt64, file: StaticString = #filePath,
                                              line: UInt = #line) {
        var generator = SeededGenerator(seed: seed)
        let x = randomTensor(inputShape, using: &generator)
        let dy = randomTensor(layer.forward(x).shape, using: &generator)
        let parameters = layer.parameters

        _ = layer.backward(dy)
        let once = parameters.map(\.gradients)
        _ = layer.backward(dy)
        let twice = parameters.map(\.gradients)

        for parameter in parameters {
            parameter.withUnsafeMutableGradientBufferPointer { $0.update(repeating: .nan) } // stale values
            parameter.zeroGradient()
        }
        _ = layer.backward(dy)
        for (parameter, expected) in zip(parameters, once) {
            XCTAssertEqual(parameter.gradients, expected, "\(layer) after zeroGradient",
                           file: file, line: line)
        }
        _ = layer.backward(dy)
        for (parameter, expected) in zip(parameters, twice) {
            XCTAssertEqual(parameter.gradients, expected, "\(layer) accumulating",
                           file: file, line: line)
        }
    }

    func testLinearOverwritesZeroedGradientsThenAccumulates() {
        checkOverwriteThenAccumulate(Linear(5, 7, seed: 1), inputShape: [4, 5], seed: 2)
    }

    func testConv2DOverwritesZeroedGradientsThenAccumulates() {
        checkOverwriteThenAccumulate(Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1, seed: 3),
                                     inputShape: [3, 2, 5, 5], seed: 4)
    }

    func testZeroedGradientReadsZerosAndTakesWrites() {
        let tensor = Tensor(shape: [3])
        tensor.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 5) }
        tensor.zeroGradient()
        XCTAssertEqual(tensor.gradients, [0, 0, 0])
        tensor.zeroGradient()
        tensor.withUnsafeMutableGradientBufferPointer { $0[1] += 2 }
        XCTAssertEqual(tensor.gradients, [0, 2, 0])
    }

    /// A parameter no backward pass touched since zeroGrad has no gradient: the step leaves
    /// it out (no weight decay either, as PyTorch after `zero_grad(set_to_none=True)`), rather
    /// than updating it from its stale gradient.
    func testOptimizerStepLeavesOutUntouchedParameters() {
        let parameter = Tensor(shape: [2], values: [1, -2])
        parameter.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 100) }
        let optimizer = SGD(parameters: [parameter], learningRate: 0.5, weightDecay: 0.1)
        optimizer.zeroGrad()
        optimizer.step()
        XCTAssertEqual(parameter.values, [1, -2])
    }
}
