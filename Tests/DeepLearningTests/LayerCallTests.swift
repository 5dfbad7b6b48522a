import XCTest
@testable import DeepLearning

/// Every layer called on tensors is a recorded operation: its gradients, with respect to the
/// input and the parameters, against finite differences, once and called twice in one graph
/// (what a call saves belongs to its node, not to the layer).
final class LayerCallTests: XCTestCase {
    private var generator = SeededGenerator(seed: 71)

    private func input(_ shape: [Int]) -> Tensor {
        differentiableTensor(shape, using: &generator)
    }

    /// A leaf of `shape` whose values are distinct, at least 0.1 apart and 0.05 away from 0,
    /// in random order: no ties for `max`, no kinks for `relu` within the check's step.
    private func distinctInput(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        var values = (0..<count).map { Float($0) * 0.1 - Float(count / 2) * 0.1 + 0.05 }
        values.shuffle(using: &generator)
        return Tensor(shape: shape, values: values, requiresGradient: true)
    }

    /// Checks `layer` called once and, when `twice`, called on its own output.
    private func check(_ layer: some Layer, at x: Tensor, twice: Bool = true,
                       file: StaticString = #filePath, line: UInt = #line) throws {
        let inputs = [x] + layer.parameters
        try gradientCheck(at: inputs) { layer($0[0]) }
        if twice { try gradientCheck(at: inputs) { layer(layer($0[0])) } }
    }

    func testLinear() throws {
        try check(Linear(4, 5, seed: 1), at: input([3, 4]), twice: false)
        try check(Linear(4, 4, seed: 2), at: input([3, 4]))
    }

    func testActivationsAndSoftmax() throws {
        try check(ReLU(), at: distinctInput([3, 5]))
        try check(Sigmoid(), at: input([3, 5]))
        try check(Tanh(), at: input([2, 3, 2]))
        try check(Softmax(), at: input([3, 5]))
    }

    func testFlatten() throws {
        try check(Flatten(), at: input([2, 3, 2]))
    }

    func testConvolution() throws {
        let strided = Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, stride: 2,
                             padding: 1, seed: 3)
        try check(strided, at: input([2, 2, 5, 5]), twice: false)
        let same = Conv2D(inputChannels: 2, outputChannels: 2, kernelSize: 3, padding: 1, seed: 4)
        try check(same, at: input([2, 2, 4, 3]))
    }

    func testPooling() throws {
        try check(MaxPool2D(kernelSize: 2), at: distinctInput([2, 2, 4, 4]))
        try check(MaxPool2D(kernelSize: 2, ceilMode: true), at: distinctInput([1, 2, 5, 5]))
        try check(AvgPool2D(kernelSize: 2), at: input([2, 2, 4, 4]))
        try check(AvgPool2D(kernelSize: 2, stride: 1, ceilMode: true), at: input([1, 2, 3, 4]))
        try check(MaxPool2D(kernelSize: 3, stride: 2, padding: 1), at: distinctInput([2, 2, 5, 6]))
        try check(AvgPool2D(kernelSize: 3, stride: 1, padding: 1), at: input([1, 2, 4, 3]))
        try check(AvgPool2D(kernelSize: 4, stride: 3, padding: 2, ceilMode: true,
                            countIncludesPadding: false), at: input([1, 2, 6, 7]))
    }

    func testBatchNormInTrainingAndEvaluation() throws {
        for shape in [[6, 3], [2, 3, 2, 2]] {
            let layer = BatchNorm(features: 3)
            layer.weight.withUnsafeMutableBufferPointer { $0[1] = 1.5 }
            layer.bias.withUnsafeMutableBufferPointer { $0[2] = -0.5 }
            try check(layer, at: input(shape))
            layer.setTraining(false)
            layer.runningMean.withUnsafeMutableBufferPointer { $0[0] = 0.3 }
            layer.runningVariance.withUnsafeMutableBufferPointer { $0[2] = 2 }
            try check(layer, at: input(shape))
        }
    }

    func testBatchNormCallMovesTheRunningStatisticsAsForwardDoes() {
        let x = input([5, 3])
        let called = BatchNorm(features: 3), forwarded = BatchNorm(features: 3)
        let y = called(x).values
        XCTAssertEqual(y, forwarded.forward(x).values)
        XCTAssertEqual(called.runningMean.values, forwarded.runningMean.values)
        XCTAssertEqual(called.runningVariance.values, forwarded.runningVariance.values)
        XCTAssertEqual(called.batchesTracked.value, 1)
    }

    func testDropoutInTrainingAndEvaluation() throws {
        let layer = Dropout(probability: 0.3, seed: 5)
        let x = input([4, 6])
        // The same masks in every evaluation of the check: the generator is reset each time.
        try gradientCheck(at: [x]) {
            layer.trainingGenerator = SeededGenerator(seed: 6)
            return layer($0[0])
        }
        try gradientCheck(at: [x]) {
            layer.trainingGenerator = SeededGenerator(seed: 6)
            return layer(layer($0[0]))
        }
        layer.trainingGenerator = SeededGenerator(seed: 6)
        let dropped = layer(x).values
        XCTAssertTrue(dropped.contains(0) && dropped.contains { $0 != 0 })
        layer.setTraining(false)
        XCTAssertTrue(layer(x) === x)
    }

    /// Calling a layer on tensors gives the values of its forward pass, bit for bit.
    func testCallsGiveTheForwardPassesValues() {
        let x = input([2, 3, 6, 6])
        let layers: [any Function] = [
            Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 3, padding: 1, seed: 7),
            MaxPool2D(kernelSize: 2), AvgPool2D(kernelSize: 2, ceilMode: true), Flatten(),
            Linear(16, 5, seed: 8), Tanh(), Softmax(),
        ]
        var called = x, forwarded = x
        for layer in layers {
            called = layer(called)
            forwarded = layer.forward(forwarded)
            XCTAssertEqual(called.shape, forwarded.shape, "\(layer)")
            XCTAssertEqual(called.values.map(\.bitPattern), forwarded.values.map(\.bitPattern),
                           "\(layer)")
        }
    }

    /// A `Function` without a graph form of its own is recorded as one node calling its
    /// forward and backward passes; it keeps one call's state, so a second call before
    /// `backward()` stops.
    func testFunctionWithoutGraphFormIsOneNode() throws {
        let layer = Scaling(reusesOutput: true)
        let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
        layer(x).sum().backward()
        XCTAssertEqual(x.gradients, [3, 3])
        XCTAssertEqual(layer.scale.gradients, [3])
        try assertStops(withMessage: "backward: Scaling was called again after this call was recorded, and a Function keeps the state of its last forward pass only") {
            let first = layer(x)
            _ = layer(x)
            first.sum().backward()
        }
    }

    /// A function that returns a new tensor from each forward pass leaves the first call's
    /// output as it was; the second call still replaced the state the first call's backward
    /// pass would read, and the node stops rather than compute the second call's gradient.
    func testFunctionWithFreshOutputsStopsWhenCalledTwice() throws {
        let layer = Scaling(reusesOutput: false)
        try assertStops(withMessage: "backward: Scaling was called again after this call was recorded") {
            let first = layer(Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true))
            _ = layer(Tensor(shape: [1, 2], values: [5, 7], requiresGradient: true))
            first.sum().backward()
        }
    }

    /// A call that records nothing replaces the function's state too.
    func testUnrecordedCallStopsTheRecordedCallsBackwardPass() throws {
        let layer = Scaling(reusesOutput: false)
        try assertStops(withMessage: "backward: Scaling was called again after this call was recorded") {
            let first = layer(Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true))
            _ = withoutGradientRecording { layer(Tensor(shape: [1, 2], values: [5, 7])) }
            first.sum().backward()
        }
    }

    /// A hook on a parameter of a function without a graph form runs once a pass, after the
    /// function's backward pass: through the graph (its node) as on a model's fused path.
    func testHooksOfAFunctionsParametersRunInEitherPass() {
        let layer = Scaling(reusesOutput: false)
        var calls: [[Float]] = []
        layer.scale.onGradientAccumulated { calls.append($0.gradients) }
        let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
        layer(x).sum().backward()
        XCTAssertEqual(calls, [[3]])
        let model = Model { layer }
        layer.scale.zeroGradient()
        _ = model.forward(x)
        model.backward(Tensor(shape: [1, 2], values: [1, 1]))
        XCTAssertEqual(calls, [[3], [3]])
    }

    /// Calls whose graphs ran or were dropped leave nothing behind: the next call's backward
    /// pass runs, with its own input's gradient.
    func testFunctionCallsAfterBackwardOrDroppedGraphs() {
        let layer = Scaling(reusesOutput: false)
        for values: [Float] in [[1, 2], [5, 7]] {
            _ = layer(Tensor(shape: [1, 2], values: [9, 9], requiresGradient: true)) // dropped
            _ = withoutGradientRecording { layer(Tensor(shape: [1, 2], values: [4, 4])) }
            let x = Tensor(shape: [1, 2], values: values, requiresGradient: true)
            layer.scale.zeroGradient()
            layer(x).sum().backward()
            XCTAssertEqual(x.gradients, [3, 3])
            XCTAssertEqual(layer.scale.gradients, [values[0] + values[1]])
        }
    }
}

/// A call of a layer is a node named by the layer's description, which is read when the name
/// is asked for (by a message), not on every call.
final class LayerCallNameTests: XCTestCase {
    func testACallReadsTheLayersDescriptionOnlyWhenItsNameIsAskedFor() {
        let scaling = Scaling(reusesOutput: false)
        let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
        let twice = scaling(scaling(x))
        XCTAssertEqual(scaling.descriptionReads, 0)
        XCTAssertEqual(twice.gradientNode?.operation, "Scaling")
        XCTAssertEqual(scaling.descriptionReads, 1)

        let linear = Linear(2, 3), dropout = Dropout(probability: 0.25)
        let y = dropout(linear(x))
        XCTAssertEqual(y.gradientNode?.operation, "Dropout(0.25)")
        XCTAssertEqual(y.gradientNode?.operation, dropout.description)
        let product = linear(x)
        XCTAssertEqual(product.gradientNode?.operation, "Linear(2 → 3)")
        product.gradientNode?.operation = "renamed"
        XCTAssertEqual(product.gradientNode?.operation, "renamed")
    }
}

/// y = s · x with a learnable scalar s (3), written with forward and backward passes; its
/// forward pass writes into the output of its last call, or returns a new tensor.
final class Scaling: Function {
    let scale = Tensor(shape: [1], values: [3], requiresGradient: true)
    let reusesOutput: Bool
    /// The shape of the zeros `backward(_:)` returns in place of dLoss/dInput, when set: a
    /// faulty function.
    var returnedShape: [Int]?
    private var input: Tensor?
    private var output: Tensor?

    init(reusesOutput: Bool) { self.reusesOutput = reusesOutput }

    /// How many times `description` was read.
    private(set) var descriptionReads = 0

    var description: String {
        descriptionReads += 1
        return "Scaling"
    }
    var parameters: [Tensor] { [scale] }

    func forward(_ input: Tensor) -> Tensor {
        let output = reusesOutput ? Tensor.reusing(output, shape: input.shape)
                                  : Tensor(shape: input.shape)
        for i in 0..<input.count { output.value[i] = scale.value[0] * input.value[i] }
        self.input = input
        self.output = output
        return output
    }

    func backward(_ outputGradient: Tensor) -> Tensor {
        let dx = Tensor(shape: outputGradient.shape)
        var ds: Float = 0
        for i in 0..<dx.count {
            dx.value[i] = scale.value[0] * outputGradient.value[i]
            ds += input!.value[i] * outputGradient.value[i]
        }
        scale.withUnsafeMutableGradientBufferPointer { $0[0] += ds }
        return returnedShape.map { Tensor(shape: $0) } ?? dx
    }
}
