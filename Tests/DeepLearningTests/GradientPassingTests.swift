import XCTest
@testable import DeepLearning

/// `+`, `-` and the losses hand a gradient tensor on to an input without a copy where they
/// can (`GradientNode.passGradient`): the tensor then becomes that input's gradient and is
/// accumulated into. These cases would give wrong gradients, or change the caller's tensor,
/// if a tensor were handed on when something still reads it.
final class GradientPassingTests: XCTestCase {
    private func leaf(_ values: [Float]) -> Tensor {
        Tensor(shape: [values.count], values: values, requiresGradient: true)
    }

    func testTheOutputGradientPassedToBackwardIsNotModified() {
        let x = leaf([1, 2, 3])
        let h = x * 2
        let y = h + h * 3           // h's gradient: g, then 3g accumulated into h's buffer
        let g = Tensor(shape: [3], values: [1, 10, 100])
        y.backward(g)
        XCTAssertEqual(g.values, [1, 10, 100])
        XCTAssertEqual(x.gradients, [8, 80, 800])
    }

    func testTwoNodesAddedReceiveSeparateGradients() {
        let x = leaf([1, 2])
        let a = x * 2, b = x * 3
        let y = (a + b) * (a - b)   // dy/da = 2a, dy/db = −2b
        y.sum().backward()
        // d/dx = 2a·2 − 2b·3 = 8x − 18x = −10x
        XCTAssertEqual(x.gradients, [-10, -20])
    }

    func testAnInputUsedOnBothSidesOfPlusAndMinus() {
        let x = leaf([1, 2])
        let h = x * 1
        ((h + h) * 3 + (h - h)).sum().backward()
        XCTAssertEqual(x.gradients, [6, 6])
    }

    func testALossOfATensorAgainstItselfHasNoGradient() {
        let x = leaf([1, 2, 3])
        let h = x * 2
        meanSquaredError(h, h).backward()
        XCTAssertEqual(x.gradients, [0, 0, 0])
    }

    func testAGradientHandedOnAndThenAccumulatedAlongAnotherPath() throws {
        var generator = SeededGenerator(seed: 11)
        let x = differentiableTensor([4, 3], using: &generator)
        let b = differentiableTensor([3], using: &generator)
        try gradientCheck(at: [x, b]) { p in
            let h = p[0] * 2 + p[1]                 // h takes the gradient of the sum below
            return (h + sin(h) - h * p[1]).sum()
        }
    }
}
