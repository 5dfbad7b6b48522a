import XCTest
@testable import DeepLearning

/// The special values where the documentation says an operation differs from PyTorch 2.15:
/// each result here is the documented one (PyTorch's in the comments).
final class PyTorchDifferenceTests: XCTestCase {
    /// abs' gradient at NaN: NaN (PyTorch: 0); at ±0: 0, as PyTorch's.
    func testAbsoluteValueGradientAtNaN() {
        let x = Tensor(shape: [3], values: [.nan, 0, -0.0], requiresGradient: true)
        abs(x).backward(Tensor(shape: [3], values: [1, 1, 1]))
        XCTAssertTrue(x.gradients[0].isNaN)
        XCTAssertEqual(Array(x.gradients[1...]), [0, 0])
    }

    /// relu(NaN) is NaN and its gradient 0, in the operation and the layer (PyTorch: dy).
    func testReLUGradientAtNaN() {
        let x = Tensor(shape: [1, 2], values: [.nan, 1], requiresGradient: true)
        let y = relu(x)
        XCTAssertTrue(y.values[0].isNaN)
        y.backward(Tensor(shape: [1, 2], values: [3, 3]))
        XCTAssertEqual(x.gradients, [0, 3])
        let layer = ReLU()
        XCTAssertTrue(layer.forward(x).values[0].isNaN)
        XCTAssertEqual(layer.backward(Tensor(shape: [1, 2], values: [3, 3])).values, [0, 3])
    }

    /// A node that saved a leaf's gradient reads it as saved even when the pass adds into that
    /// gradient before the node runs: here w's `* 3` (PyTorch: its `AccumulateGrad` of w runs
    /// before the product's backward in `matmul(v, w.grad).sum() + (w * 3).sum()` and the
    /// product stops, "modified by an inplace operation"; in the other order of the terms it
    /// computes these values).
    func testAGradientSavedIsReadAsSavedWhateverTheOrderOfThePass() {
        let w = Tensor(shape: [2, 2], values: [1, 2, 3, 4], requiresGradient: true)
        let v = Tensor(shape: [2, 2], values: [1, 0, 0, 1], requiresGradient: true)
        w.withUnsafeMutableGradientBufferPointer { $0.update(repeating: 1) }
        (matmul(v, w.gradient!).sum() + (w * 3).sum()).backward()
        XCTAssertEqual(w.gradients, [4, 4, 4, 4])
        XCTAssertEqual(v.gradients, [2, 2, 2, 2])
    }

    /// The divisor's gradient −((dy / b) · (a / b)) at the edges of the float range: NaN where
    /// dy / b overflows and a is 0 (PyTorch's −dy · ((a / b) / b): −0), 0 where (a / b) / b
    /// would overflow and dy is 0 (PyTorch: NaN).
    func testDivisorGradientAtTheEdgesOfTheRange() {
        let a = Tensor(shape: [2], values: [0, 1e20], requiresGradient: true)
        let b = Tensor(shape: [2], values: [1e-20, 1e-10], requiresGradient: true)
        (a / b).backward(Tensor(shape: [2], values: [1e30, 0]))
        XCTAssertTrue(b.gradients[0].isNaN)
        XCTAssertEqual(b.gradients[1], 0)
        XCTAssertEqual(a.gradients, [.infinity, 0])
    }

    /// pow(−∞, ±0.5) follows powf: +∞ and +0 (PyTorch: NaN).
    func testPowerOfMinusInfinity() {
        XCTAssertEqual(pow(Tensor(-.infinity), 0.5).scalar, .infinity)
        XCTAssertEqual(pow(Tensor(-.infinity), -0.5).scalar, 0)
    }

    /// MaxPool2D takes a window's first NaN as its maximum and sends it the gradient
    /// (PyTorch: the last NaN).
    func testMaxPoolingTakesTheFirstNaN() {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, .nan, .nan, 2], requiresGradient: true)
        let y = MaxPool2D(kernelSize: 2)(x)
        XCTAssertTrue(y.values[0].isNaN)
        y.backward(Tensor(shape: [1, 1, 1, 1], values: [5]))
        XCTAssertEqual(x.gradients, [0, 5, 0, 0])
    }
}
