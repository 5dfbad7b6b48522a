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

    /// The caller's output gradient handed through `+ 1` and `+ 2` to their input's last use
    /// (no copy): read, not written, by a product with its ReLU fused (whose mask goes to a
    /// buffer of its own then) and by exp.
    func testTheOutputGradientHandedToALastUseIsNotModified() {
        let a = Tensor(shape: [2, 3], values: [1, 2, 3, -1, 0, 2], requiresGradient: true)
        let w = Tensor(shape: [3, 2], values: [1, -1, 0, -2, 1, 1], requiresGradient: true)
        let dy = Tensor(shape: [2, 2], values: [1, -2, 3, -4])
        (relu(matmul(a, w)) + 1).backward(dy)   // a·w = [[4, -2], [1, 3]]
        XCTAssertEqual(dy.values, [1, -2, 3, -4])
        XCTAssertEqual(a.gradients, [1, 0, 1, 7, 8, -1])
        XCTAssertEqual(w.gradients, [-2, 4, 2, 0, 9, -8])
        let x = leaf([0, 1])
        let g = Tensor(shape: [2], values: [2, 3])
        ((exp(x) + 1) + 2).backward(g)
        XCTAssertEqual(g.values, [2, 3])
        let e = exp(x).values
        XCTAssertEqual(x.gradients, [2 * e[0], 3 * e[1]])
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
