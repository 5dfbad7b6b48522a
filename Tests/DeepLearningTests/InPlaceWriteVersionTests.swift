import XCTest
import DeepLearning

/// The library's own in-place writes to tensors a user can reach (optimizer steps, loading,
/// initializers, BatchNorm's running statistics) raise the tensor's `version`, so that a graph
/// which saved the tensor before the write stops in `backward()`, as PyTorch's does.
final class InPlaceWriteVersionTests: XCTestCase {
    /// Forward with the graph, an optimizer step (of a weight given a gradient), then backward:
    /// the step changed the weight the matrix product saved for the input's gradient.
    func testOptimizerStepBetweenForwardAndBackwardStops() throws {
        try assertStops(withMessage: "saved a tensor of shape [2, 2] for its backward pass, which was modified afterwards (version 0, now 1)") {
            let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
            let w = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGradient: true)
            let y = matmul(x, w).sum()
            let optimizer = SGD(parameters: [w], learningRate: 0.1)
            w.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
            optimizer.step()
            y.backward()
        }
    }

    /// Of every parameter with a gradient (a step leaves the others out, unwritten).
    func testEachOptimizerStepRaisesTheVersionOfEveryParameterOnce() {
        let parameters = [Tensor(shape: [2], values: [1, 2]), Tensor(shape: [3], values: [1, 2, 3])]
        for parameter in parameters {
            parameter.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
        }
        let optimizers: [any Optimizer] = [
            SGD(parameters: parameters, learningRate: 0.1, momentum: 0.9),
            Adam(parameters: parameters, learningRate: 0.1),
            AdamW(parameters: parameters, learningRate: 0.1),
            RMSProp(parameters: parameters, learningRate: 0.1),
        ]
        for optimizer in optimizers {
            let before = parameters.map(\.version)
            optimizer.step()
            XCTAssertEqual(parameters.map(\.version), before.map { $0 + 1 }, "\(type(of: optimizer))")
        }
    }

    func testLoadingAndInitializingRaiseTheVersion() throws {
        let model = Model { Linear(2, 3) }
        model.initializeParameters(seed: 1)
        let path = try makeTemporaryDirectory().appendingPathComponent("model.safetensors").path
        try model.save(to: path)
        var before = model.parameters.map(\.version)
        try model.load(from: path)
        XCTAssertTrue(zip(model.parameters.map(\.version), before).allSatisfy(>), "load")
        before = model.parameters.map(\.version)
        model.initializeParameters(seed: 2)
        XCTAssertTrue(zip(model.parameters.map(\.version), before).allSatisfy(>), "initializeParameters")
    }

    func testBatchNormTrainingForwardRaisesTheRunningStatisticsVersions() {
        let layer = BatchNorm(features: 2)
        let before = (layer.runningMean.version, layer.runningVariance.version)
        _ = layer.forward(Tensor(shape: [2, 2], values: [1, 2, 3, 4]))
        XCTAssertEqual(layer.runningMean.version, before.0 + 1)
        XCTAssertEqual(layer.runningVariance.version, before.1 + 1)
    }

    func testGradientAccessorsAllocateZerosAndCountWrites() {
        let w = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
        XCTAssertNil(w.gradient)
        XCTAssertEqual(w.withUnsafeGradientBufferPointer { Array($0) }, [0, 0, 0])
        let gradient = w.gradient!
        let before = gradient.version
        w.withUnsafeMutableGradientBufferPointer { $0[2] = 5 }
        XCTAssertEqual(gradient.version, before + 1)
        XCTAssertEqual(gradient.values, [0, 0, 5])
        XCTAssertEqual(w.version, 0) // the values were not written
    }
}
