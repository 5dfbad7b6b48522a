import XCTest
@testable import DeepLearning

/// The node that records a call of a `Function` without a graph form of its own
/// (`FunctionNode`): what it checks of the function's backward pass.
final class FunctionNodeTests: XCTestCase {
    /// A backward pass returning a gradient of another shape than the input's stops, rather
    /// than be added into the input's gradient past its end.
    func testInputGradientOfAnotherShapeStops() throws {
        try assertStops(withMessage: "backward: Scaling returned an input gradient of shape [1, 2] for its input of shape [4, 8]") {
            let layer = Scaling(reusesOutput: false)
            layer.returnedShape = [1, 2]
            let x = Tensor(shape: [4, 8])
            x.requiresGradient = true
            layer(x).sum().backward()
        }
    }

    /// An optimizer's step on the function's parameter between its call and `backward()`
    /// stops, as it does for the library's layers: the backward pass would read the new
    /// value.
    func testOptimizerStepBeforeBackwardStops() throws {
        try assertStops(withMessage: "backward: Scaling saved a tensor of shape [1] for its backward pass, which was modified afterwards (version 0, now 1)") {
            let layer = Scaling(reusesOutput: false)
            let y = layer(Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)).sum()
            // A gradient (zeros) to step with: an optimizer leaves out a parameter without one.
            for parameter in layer.parameters {
                parameter.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 0) }
            }
            SGD(parameters: layer.parameters, learningRate: 1).step()
            y.backward()
        }
    }

    /// So does a write to the function's input.
    func testWriteToTheInputBeforeBackwardStops() throws {
        try assertStops(withMessage: "backward: Scaling saved a tensor of shape [1, 2] for its backward pass, which was modified afterwards (version 0, now 1)") {
            let layer = Scaling(reusesOutput: false)
            let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
            let y = layer(x).sum()
            x.withUnsafeMutableBufferPointer { $0[0] = 5 }
            y.backward()
        }
    }

    /// A function called on a leaf's gradient that the pass adds into before the function's
    /// node runs (here w's `* 3`) stops: the function reads its own state, not the node's saved
    /// tensors, so the node cannot give it the values as saved (as the library's nodes do).
    func testInputThatIsAGradientAddedToEarlierInThePassStops() throws {
        try assertStops(withMessage: "backward: Scaling saved a tensor of shape [2] for its backward pass, which was modified afterwards (version 1, now 2)") {
            let layer = Scaling(reusesOutput: false)
            let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            w.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
            (layer(w.gradient!).sum() + (w * 3).sum()).backward()
        }
    }

    /// In `fit` on the graph the optimizer steps after the backward pass: a model holding the
    /// function trains through its node.
    func testFitOnTheGraphStepsAfterTheFunctionsBackwardPass() throws {
        let layer = Scaling(reusesOutput: false)
        let model = Model { layer; Linear(2, 2, seed: 1) }
        model.allowsFusedPath = false
        let x = Tensor(shape: [2, 2], values: [1, 2, -1, 0.5])
        let before = layer.scale.values
        _ = try model.fit(x, labels: [0, 1],
                          optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                          epochs: 2, batchSize: 2)
        XCTAssertNotEqual(layer.scale.values, before)
    }

    /// A parameter of the function also used by another operation of the graph: its hook runs
    /// once, with the sum of both contributions, whichever runs last.
    func testHookOfAParameterUsedElsewhereRunsOnceAfterItsLastContribution() {
        let layer = Scaling(reusesOutput: false)
        var calls: [[Float]] = []
        layer.scale.onGradientAccumulated { calls.append($0.gradients) }
        let x = Tensor(shape: [1, 2], values: [1, 2], requiresGradient: true)
        (layer(x).sum() + (layer.scale * 10).sum()).backward()
        XCTAssertEqual(calls, [[13]])
        (layer(x * 10).sum() + layer.scale.sum()).backward()
        XCTAssertEqual(calls, [[13], [44]])
    }

    /// A function that keeps its input, called on its own result and never differentiated: the
    /// function, its first call's result and that call's node are freed with the graph (the
    /// function keeps an input without the node that would hold the function).
    func testAFunctionCalledOnItsOwnResultIsFreedWithoutBackward() {
        weak var freedLayer: Scaling?
        weak var freedFirstResult: Tensor?
        weak var freedFirstNode: GradientNode?
        do {
            let layer = Scaling(reusesOutput: false)
            let first = layer(Tensor(shape: [1, 2], values: [1, 2]))
            _ = layer(first)
            (freedLayer, freedFirstResult, freedFirstNode) = (layer, first, first.gradientNode)
            XCTAssertNotNil(freedFirstNode)
        }
        XCTAssertNil(freedLayer)
        XCTAssertNil(freedFirstResult)
        XCTAssertNil(freedFirstNode)
    }
}
