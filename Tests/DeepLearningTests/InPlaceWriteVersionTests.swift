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

    /// The library's writes to a gradient raise the version of the tensor `gradient` returns:
    /// a backward pass adding to it or overwriting it after `zeroGradient()`, the deferred
    /// zeros written when it is read, a penalty, a layer's own backward pass.
    func testTheLibrarysWritesToAGradientRaiseItsVersion() {
        let linear = Linear(2, 2, seed: 1), norm = BatchNorm(features: 2)
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 5])
        for parameter in [linear.weight, norm.weight] {
            (parameter * parameter).sum().backward()
            let gradient = parameter.gradient!
            func assertRaised(_ write: String, _ body: () -> Void) {
                let before = gradient.version
                body()
                XCTAssertGreaterThan(gradient.version, before, write)
            }
            assertRaised("backward() adding") { (parameter * 2).sum().backward() }
            assertRaised("backward() after zeroGradient()") {
                parameter.zeroGradient()
                (parameter * 2).sum().backward()
            }
            assertRaised("zeros when read") {
                parameter.zeroGradient()
                _ = parameter.gradients
            }
            assertRaised("a penalty") { _ = Penalty(parameters: [parameter], l2: 0.1).apply() }
            let layer: any Function = parameter === linear.weight ? linear : norm
            assertRaised("\(layer).backward") {
                _ = layer.forward(x)
                _ = layer.backward(Tensor(shape: [2, 2], values: [1, 1, 1, 1]))
            }
        }
    }

    /// A gradient saved by an operation, then added to by a backward pass: the operation's
    /// backward pass stops rather than read the new values.
    func testGradientSavedThenAccumulatedIntoStops() throws {
        try assertStops(withMessage: "backward: * saved a tensor of shape [2] for its backward pass, which was modified afterwards") {
            let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            (w * w).sum().backward()
            let v = Tensor(shape: [2], values: [1, 1], requiresGradient: true)
            let y = (w.gradient! * v).sum()
            (w * 10).sum().backward()
            y.backward()
        }
    }
}
