import XCTest
@testable import DeepLearning

/// `backward(_:)` given a leaf's own gradient as the output gradient (`y.backward(x.gradient!)`,
/// x a leaf of y's graph): the pass adds into that buffer while it reads the output gradient,
/// so it must read what the buffer held when `backward` was called, as PyTorch does (its
/// operations compute each gradient into a new tensor before adding it to `.grad`).
final class OutputGradientAliasTests: XCTestCase {
    /// x [n, n] with gradient g0 = x.gradient, y = matmul(x, w): after y.backward(g0), x's
    /// gradient is g0 + g0 · wᵀ, and w's is xᵀ · g0.
    private func checkProduct(_ graph: (Tensor, Tensor) -> Tensor, _ what: String) {
        let n = 40
        var generator = SeededGenerator(seed: 31)
        let x = randomTensor([n, n], using: &generator)
        x.requiresGradient = true
        let w = randomTensor([n, n], using: &generator)
        w.requiresGradient = true
        let g0 = (0..<n * n).map { Float($0 % 7) - 3 }
        x.gradient(fill: g0)
        let (xv, wv) = (x.values, w.values)
        var dx = [Double](repeating: 0, count: n * n), dw = dx
        for i in 0..<n {
            for j in 0..<n {
                dx[i * n + j] = Double(g0[i * n + j])
                for k in 0..<n {
                    dx[i * n + j] += Double(g0[i * n + k]) * Double(wv[j * n + k])
                    dw[i * n + j] += Double(xv[k * n + i]) * Double(g0[k * n + j])
                }
            }
        }
        graph(x, w).backward(x.gradient!)
        assertClose(x.gradients, dx, tolerance: 1e-4, "\(what): x's gradient")
        assertClose(w.gradients, dw, tolerance: 1e-4, "\(what): w's gradient")
    }

    func testALeafsGradientAsTheOutputGradientOfAProduct() {
        checkProduct({ matmul($0, $1) }, "matmul(x, w)")
    }

    /// The same output gradient handed on through `+ 0` to the product (no copy).
    func testALeafsGradientHandedOnToAProduct() {
        checkProduct({ matmul($0, $1) + 0 }, "matmul(x, w) + 0")
    }
}

private extension Tensor {
    /// Gives this leaf the gradient `values`.
    func gradient(fill values: [Float]) {
        (self * 0).sum().backward()
        let buffer = gradient!.value
        for (i, v) in values.enumerated() { buffer[i] = v }
    }
}
