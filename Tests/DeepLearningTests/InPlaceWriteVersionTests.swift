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

    /// A graph that saves a leaf's own gradient (`matmul(w, w.gradient!)`) and adds into that
    /// gradient when it runs: each operation reads the gradient as it was saved, before the
    /// pass added to it, as PyTorch computes it (torch 2.15: `w.grad = ones; (w @ w.grad)
    /// .sum().backward()` leaves w.grad = 1 + ones · onesᵀ = 3). Values from PyTorch.
    func testAGraphReadsTheGradientItSavedAsSavedWhileAddingToIt() {
        func leaf(_ values: [Float], shape: [Int], gradient: [Float]) -> Tensor {
            let w = Tensor(shape: shape, values: values, requiresGradient: true)
            w.withUnsafeMutableGradientBufferPointer { _ = $0.update(fromContentsOf: gradient) }
            return w
        }
        let ones: [Float] = [1, 1, 1, 1]
        var w = leaf([1, 2, 3, 4], shape: [2, 2], gradient: ones)
        matmul(w, w.gradient!).sum().backward()
        XCTAssertEqual(w.gradients, [3, 3, 3, 3], "w · w.grad")
        w = leaf([1, 2, 3, 4], shape: [2, 2], gradient: ones)
        matmul(w.gradient!, w).sum().backward()
        XCTAssertEqual(w.gradients, [3, 3, 3, 3], "w.grad · w")
        // w used twice: dW = 1 + ones · onesᵀ + 3.
        w = leaf([1, 2, 3, 4], shape: [2, 2], gradient: ones)
        (matmul(w, w.gradient!).sum() + (w * 3).sum()).backward()
        XCTAssertEqual(w.gradients, [6, 6, 6, 6], "w · w.grad + 3w")
        let v = leaf([1, 2], shape: [2], gradient: [10, 20])
        (v * v.gradient!).sum().backward()
        XCTAssertEqual(v.gradients, [20, 40], "v * v.grad")
        // A layer given its own weight's gradient as its input: the same gradients as given a
        // copy of it.
        let linear = Linear(2, 2, seed: 3)
        func layerGradients(aliased: Bool) -> [Float] {
            for parameter in linear.parameters { parameter.zeroGradient() }
            linear.weight.withUnsafeMutableGradientBufferPointer {
                _ = $0.update(fromContentsOf: [1, -2, 3, 0.5])
            }
            let x = aliased ? linear.weight.gradient!
                : Tensor(shape: [2, 2], values: [1, -2, 3, 0.5])
            linear(x).sum().backward()
            return linear.weight.gradients + linear.bias.gradients
        }
        XCTAssertEqual(layerGradients(aliased: true), layerGradients(aliased: false), "Linear")
    }

    /// A saved gradient that the user writes to between the operation and `backward()` still
    /// stops the pass, as PyTorch's does.
    func testAGradientSavedThenWrittenByTheUserStops() throws {
        try assertStops(withMessage: "backward: matmul saved a tensor of shape [2, 2] for its backward pass, which was modified afterwards (version 1, now 2)") {
            let w = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGradient: true)
            w.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
            let y = matmul(w, w.gradient!).sum()
            w.withUnsafeMutableGradientBufferPointer { $0[0] = 5 }
            y.backward()
        }
    }
}
