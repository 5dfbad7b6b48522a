import Foundation
import XCTest
@testable import DeepLearning

/// The graph's semantics, PyTorch's: values and gradients of the article's example,
/// accumulation, shared subexpressions, freeing, version checks, no-recording scopes,
/// detaching, hooks, gradient tensors and the check of gradients itself.
final class AutodiffEngineTests: XCTestCase {
    private func ones(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, values: [Float](repeating: 1, count: shape.reduce(1, *)))
    }

    func testArticleExample() {
        let x1 = Tensor(2, requiresGradient: true), x2 = Tensor(5, requiresGradient: true)
        let y = sin(x1) + x1 * x2
        XCTAssertEqual(y.shape, [])
        XCTAssertEqual(y.scalar, Float(Foundation.sin(2.0) + 10), accuracy: 1e-5)
        y.backward()
        XCTAssertEqual(x1.gradients[0], Float(Foundation.cos(2.0) + 5), accuracy: 1e-5)
        XCTAssertEqual(x2.gradients, [2])
        XCTAssertTrue(x1.isLeaf)
        XCTAssertFalse(y.isLeaf)
        XCTAssertEqual(y.gradientNode?.operation, "+")
    }

    func testGradientsAccumulateAcrossCallsUntilZeroed() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        (x * x).backward(ones([2]))
        (x * 3).backward(ones([2]))
        XCTAssertEqual(x.gradients, [2 + 3, 4 + 3])
        x.zeroGradient()
        (x * x).backward(ones([2]))
        XCTAssertEqual(x.gradients, [2, 4])
        XCTAssertEqual(x.gradient?.shape, [2])
        XCTAssertEqual(x.gradient?.values, [2, 4])
    }

    func testATensorUsedTwiceReceivesTheSumOfBothPaths() {
        let a = Tensor(3, requiresGradient: true)
        let b = a * 2                     // used twice below
        let y = b * b + sin(b) - a        // dy/da = 2b·2 + cos(b)·2 − 1
        y.backward()
        XCTAssertEqual(a.gradients[0], Float(4 * 6 + 2 * Foundation.cos(6.0) - 1), accuracy: 1e-4)
    }

    func testRequiresGradientPropagatesAndLeavesWithoutItGetNone() {
        let x = Tensor(shape: [2], values: [1, 2])
        let w = Tensor(shape: [2], values: [3, 4], requiresGradient: true)
        let y = x * w
        XCTAssertTrue(y.requiresGradient)
        XCTAssertFalse((x * x).requiresGradient)
        y.backward(ones([2]))
        XCTAssertEqual(w.gradients, [1, 2])
        XCTAssertNil(x.gradient)
    }

    func testBackwardOnALeafAccumulatesTheOutputGradient() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        x.backward(Tensor(shape: [2], values: [0.5, 1]))
        x.backward(Tensor(shape: [2], values: [0.5, 1]))
        XCTAssertEqual(x.gradients, [1, 2])
    }

    func testWithoutGradientRecordingRecordsNothingOnThisThreadOnly() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        final class Flag: @unchecked Sendable { var value = false }
        let recordedElsewhere = Flag()
        let y = withoutGradientRecording { () -> Tensor in
            XCTAssertFalse(GradientRecording.isEnabled)
            // Another thread keeps recording.
            let done = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                let t = Tensor(2, requiresGradient: true)
                recordedElsewhere.value = (t * t).requiresGradient
                done.signal()
            }
            done.wait()
            return x * x
        }
        XCTAssertTrue(recordedElsewhere.value)
        XCTAssertFalse(y.requiresGradient)
        XCTAssertNil(y.gradientNode)
        XCTAssertTrue(GradientRecording.isEnabled)
        XCTAssertTrue((x * x).requiresGradient)
    }

    func testDetachedSharesStorageButNotTheGraph() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        let y = x * 2
        let d = y.detached()
        XCTAssertFalse(d.requiresGradient)
        XCTAssertTrue(d.isLeaf)
        XCTAssertEqual(d.values, [2, 4])
        let before = y.version
        d.withUnsafeMutableBufferPointer { $0[0] = 7 }
        XCTAssertEqual(y.values, [7, 4])
        XCTAssertEqual(y.version, before + 1)
        // Gradient flows through y, not through d.
        (y * d).backward(ones([2]))
        XCTAssertEqual(x.gradients, [14, 8])
    }

    func testHooksRunOnceWhenEachLeafGradientIsCompleteLastLayerFirst() {
        let w1 = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        let w2 = Tensor(shape: [2], values: [3, 4], requiresGradient: true)
        var calls: [(String, [Float])] = []
        w1.onGradientAccumulated { calls.append(("w1", $0.gradients)) }
        w1.onGradientAccumulated { _ in calls.append(("w1 second hook", [])) }
        w2.onGradientAccumulated { calls.append(("w2", $0.gradients)) }
        let h = sin(w1) * w1              // w1 used twice: one call, after both paths
        let y = h * w2
        y.backward(ones([2]))
        XCTAssertEqual(calls.map(\.0), ["w2", "w1", "w1 second hook"])
        XCTAssertEqual(calls[1].1, w1.gradients) // complete when the hook ran
        XCTAssertEqual(calls[0].1, h.values)
    }

    /// A hook added during a backward pass, to a leaf whose contributions are still to come,
    /// runs in that pass after the last one, and in every later pass.
    func testHookAddedDuringBackwardRunsInThatPassAndLaterOnes() {
        let a = Tensor(shape: [1], values: [2], requiresGradient: true)
        let w = Tensor(shape: [1], values: [3], requiresGradient: true)
        var calls: [[Float]] = []
        var added = false
        a.onGradientAccumulated { _ in
            if !added { w.onGradientAccumulated { calls.append($0.gradients) } }
            added = true
        }
        for _ in 0..<3 { (a * (w * w + w * 5)).sum().backward() } // dw = a · (2w + 5) = 22
        XCTAssertEqual(calls, [[22], [44], [66]])
    }

    /// A removed hook no longer runs, through the graph or on a model's fused path; the others
    /// keep their order; removing twice, or after the leaf is gone, does nothing.
    func testRemovedHooksNoLongerRun() throws {
        let w = Tensor(shape: [1], values: [3], requiresGradient: true)
        var calls: [String] = []
        let first = w.onGradientAccumulated { _ in calls.append("first") }
        w.onGradientAccumulated { _ in calls.append("second") }
        let third = w.onGradientAccumulated { _ in calls.append("third") }
        (w * w).sum().backward()
        first.remove()
        first.remove()
        (w * w).sum().backward()
        third.remove()
        (w * w).sum().backward()
        XCTAssertEqual(calls, ["first", "second", "third", "second", "third", "second"])

        var gone: Tensor? = Tensor(shape: [1], values: [1], requiresGradient: true)
        let orphan = gone!.onGradientAccumulated { _ in }
        gone = nil
        orphan.remove()

        let model = Model { Linear(4, 3) }
        model.initializeParameters(seed: 1)
        var fusedCalls = 0
        let handle = model.parameters[0].onGradientAccumulated { _ in fusedCalls += 1 }
        let inputs = Tensor(shape: [2, 4], values: (0..<8).map { Float($0) / 8 })
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
        try model.fit(inputs, labels: [0, 2], optimizer: optimizer, epochs: 1, batchSize: 2)
        handle.remove()
        try model.fit(inputs, labels: [0, 2], optimizer: optimizer, epochs: 1, batchSize: 2)
        XCTAssertEqual(fusedCalls, 1)
    }

    func testGradientCheckReportsTheInputElementAndBothValues() throws {
        let x = Tensor(shape: [3], values: [0.5, -1, 2], requiresGradient: true)
        let y = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
        try gradientCheck(at: [x, y]) { $0[0] * $0[1] + sin($0[0]) }
        // x · detached(x) differentiates one factor only: half the true gradient 2x.
        XCTAssertThrowsError(try gradientCheck(at: [y, x]) { $0[1] * $0[1].detached() }) { error in
            guard let failure = error as? GradientCheckFailure else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.input, 1)
            XCTAssertEqual(failure.element, 0)
            XCTAssertEqual(failure.analytic, 0.5 * failure.numeric / 1, accuracy: 1e-6 + 0.01 * failure.numeric)
            XCTAssertTrue(failure.description.contains("input 1, element 0"), failure.description)
        }
    }

    /// A step of 0 would divide by 0: the check stops naming the step, not a NaN estimate.
    func testGradientCheckStopsOnAStepOfZero() throws {
        try assertStops(withMessage: "gradientCheck: step 0.0 must be finite and above 0 (the finite differences divide by it)") {
            try? gradientCheck(at: [Tensor(2, requiresGradient: true)], step: 0) { $0[0] * $0[0] }
        }
    }

    /// A function that throws, such as a loss over labels, is checked without `try!`.
    func testGradientCheckTakesAThrowingFunction() throws {
        let logits = Tensor(shape: [2, 3], values: [0.5, -1, 2, 1, 0, -0.5], requiresGradient: true)
        try gradientCheck(at: [logits]) { try crossEntropy($0[0], labels: [2, 0]) }
    }

    /// An error the function throws midway through the perturbations comes out of
    /// gradientCheck, with the inputs' values restored and their gradients zeroed.
    func testGradientCheckRethrowsTheFunctionsErrorWithItsInputsRestored() throws {
        struct Refused: Error {}
        let x = Tensor(shape: [2], values: [0.3, -0.7], requiresGradient: true)
        var calls = 0
        XCTAssertThrowsError(try gradientCheck(at: [x]) { inputs in
            calls += 1
            if calls == 4 { throw Refused() }   // 1, 2: the analytic passes; 3, 4: element 0
            return inputs[0] * inputs[0]
        }) { XCTAssertTrue($0 is Refused, "\($0)") }
        XCTAssertEqual(x.values, [0.3, -0.7])
        XCTAssertEqual(x.gradients, [0, 0])
    }

    /// gradientCheck writes its inputs' values in place (each perturbation, then the
    /// restoring write): their values come back bit for bit, their versions are raised, so
    /// that a node which saved an input before the check reports the change in `backward()`.
    func testGradientCheckRestoresItsInputsValuesAndRaisesTheirVersions() throws {
        let x = Tensor(shape: [2], values: [0.3, -0.7], requiresGradient: true)
        let y = Tensor(shape: [2], values: [1.5, 2], requiresGradient: true)
        try gradientCheck(at: [x, y]) { $0[0] * $0[1] }
        XCTAssertEqual(x.values, [0.3, -0.7])
        XCTAssertEqual(y.values, [1.5, 2])
        XCTAssertGreaterThan(x.version, 0)
        XCTAssertGreaterThan(y.version, 0)
    }

    func testViewsShareTheVersionCount() {
        let x = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        XCTAssertEqual(x.version, 0)
        x.withUnsafeMutableBufferPointer { $0[0] = 5 }
        XCTAssertEqual(x.version, 1)
        x.withUnsafeBufferPointer { XCTAssertEqual(Array($0), [5, 2, 3, 4]) }
        XCTAssertEqual(x.version, 1)
        XCTAssertEqual(Tensor(2).scalar, 2)
    }

    /// Neither freeing nor differentiating a graph recurses along it: a chain of 200,000
    /// operations would overflow the stack.
    func testLongChainsAreFreedAndDifferentiatedWithoutRecursion() {
        let x = Tensor(1, requiresGradient: true)
        var y = x
        for _ in 0..<200_000 { y = y + 1 }
        y = x * 1 // the chain is dropped without backward()
        for _ in 0..<200_000 { y = y * 1 }
        y.backward()
        XCTAssertEqual(x.gradients, [1])
    }

    // Programming errors stop the program (checked in a child process).

    func testTurningOffTheGradientOfAComputedTensorStops() throws {
        try assertStops(withMessage: "Tensor.requiresGradient: only a leaf's can be turned off; this [] tensor was computed by *") {
            let y = Tensor(2, requiresGradient: true) * 3
            y.requiresGradient = true // allowed: it has it
            y.requiresGradient = false
        }
    }

    func testSecondBackwardThroughAFreedGraphStops() throws {
        try assertStops(withMessage: "backward: * (output shape []) was already run by an earlier backward()") {
            let x = Tensor(2, requiresGradient: true)
            let y = x * x
            y.backward()
            y.backward()
        }
    }

    func testModifyingASavedTensorBeforeBackwardStops() throws {
        try assertStops(withMessage: "backward: * saved a tensor of shape [2] for its backward pass, which was modified afterwards (version 0, now 1)") {
            let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            let w = Tensor(shape: [2], values: [3, 4])
            let y = x * w
            w.withUnsafeMutableBufferPointer { $0[0] = 0 }
            y.backward(Tensor(shape: [2], values: [1, 1]))
        }
    }

    /// Only what a backward pass reads is saved: modifying the input of a negation, a sum or
    /// an addition before backward() is fine (as in PyTorch).
    func testOperationsThatSaveNothingIgnoreLaterModifications() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        let w = Tensor(shape: [2], values: [3, 4])
        let y = (-(x + w)).sum()
        w.withUnsafeMutableBufferPointer { $0[0] = 0 }
        y.backward()
        XCTAssertEqual(x.gradients, [-1, -1])
    }

    /// A layer's output is its buffer, overwritten by its next call: an operation that saved
    /// it sees the layer's reuse in the version.
    func testALayersReusedOutputSavedByAnOperationIsDetected() throws {
        try assertStops(withMessage: "backward: * saved a tensor of shape [1, 2] for its backward pass, which was modified afterwards") {
            let layer = Linear(3, 2)
            let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
            let y = layer.forward(Tensor(shape: [1, 3])) * w
            _ = layer.forward(Tensor(shape: [1, 3], values: [1, 2, 3]))
            y.backward(Tensor(shape: [1, 2], values: [1, 1]))
        }
    }

    func testShapesThatDoNotBroadcastStop() throws {
        try assertStops(withMessage: "+: shapes [2, 3] and [2] do not broadcast") {
            _ = Tensor(shape: [2, 3]) + Tensor(shape: [2])
        }
    }

    func testBackwardOnANonScalarWithoutAGradientStops() throws {
        try assertStops(withMessage: "backward: a tensor of shape [2] has 2 elements") {
            (Tensor(shape: [2], values: [1, 2], requiresGradient: true) * 2).backward()
        }
    }

    func testBackwardWithAGradientOfAnotherShapeStops() throws {
        try assertStops(withMessage: "backward: the output gradient of shape [3] does not match the tensor's shape [2]") {
            (Tensor(shape: [2], values: [1, 2], requiresGradient: true) * 2).backward(Tensor(shape: [3]))
        }
    }
}
