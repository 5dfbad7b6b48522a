import XCTest
@testable import DeepLearning

/// A bias added to a 2-D product, and a ReLU after it, join the product's node in place when
/// nothing else holds the product (`MatrixProductNode.fusingBias`, `fusingReLU`): the same
/// values and gradients, bit for bit, as the separate operations; and no fusion where another
/// tensor, view or node could see the product change.
final class FusedProductTests: XCTestCase {
    /// Copies of `tensors` as new leaves that require a gradient.
    private func leaves(_ tensors: [Tensor]) -> [Tensor] {
        tensors.map { Tensor(shape: $0.shape, values: $0.values, requiresGradient: true) }
    }

    private func inputs(seed: UInt64) -> [Tensor] {
        var generator = SeededGenerator(seed: seed)
        return [[5, 4], [4, 3], [3]].map { differentiableTensor($0, using: &generator) }
    }

    func testABiasAndAReLUJoinTheProductsNodeWithTheSeparateOperationsBits() {
        let p = inputs(seed: 1), q = leaves(p)
        let fused = relu(matmul(p[0], p[1]) + p[2])
        XCTAssertEqual(fused.gradientNode?.operation, "relu(matmul + bias)")
        // Kept alive past each operation, the product and the sum are not fused.
        let product = matmul(q[0], q[1])
        let sum = withExtendedLifetime(product) { product + q[2] }
        let separate = withExtendedLifetime(sum) { relu(sum) }
        XCTAssertEqual(sum.gradientNode?.operation, "+")
        XCTAssertEqual(separate.gradientNode?.operation, "relu")
        XCTAssertEqual(fused.values.map(\.bitPattern), separate.values.map(\.bitPattern))
        var generator = SeededGenerator(seed: 2)
        let g = randomTensor([5, 3], in: -1..<1, using: &generator)
        let gValues = g.values
        fused.backward(g)
        separate.backward(g)
        XCTAssertEqual(g.values, gValues, "the caller's output gradient was masked in place")
        for (a, b) in zip(p, q) {
            XCTAssertEqual(a.gradients.map(\.bitPattern), b.gradients.map(\.bitPattern))
        }
    }

    func testFusedProductsGradientsMatchFiniteDifferences() throws {
        try gradientCheck(at: inputs(seed: 3)) { p in relu(matmul(p[0], p[1]) + p[2]).sum() }
        try gradientCheck(at: inputs(seed: 4)) { p in
            let h = matmul(p[0], p[1]) + p[2]       // used twice: its gradient accumulates
            return (h * h).sum() + relu(matmul(h, p[1], transposingB: true)).sum()
        }
        var generator = SeededGenerator(seed: 5)
        let x = differentiableTensor([4, 5], using: &generator)
        let w = differentiableTensor([3, 4], using: &generator)
        let b = differentiableTensor([1, 3], using: &generator)
        // The step below the smallest distance of a value before the ReLU from 0 (0.007).
        try gradientCheck(at: [x, w, b], step: 1e-3) { p in
            (relu(matmul(p[0], p[1], transposingA: true, transposingB: true) + p[2]) * 3).sum()
        }
    }

    /// The second product of relu(x·W1 + b1)·W2 masks the first's gradient in its GEMM when it
    /// is the ReLU's only consumer; with two consumers the first masks the sum itself.
    func testAProductMaskingItsInputsGradientByTheReLU() throws {
        var generator = SeededGenerator(seed: 9)
        let shapes = [[6, 4], [4, 5], [5], [5, 3]]
        try gradientCheck(at: shapes.map { differentiableTensor($0, using: &generator) }) { p in
            sin(matmul(relu(matmul(p[0], p[1]) + p[2]), p[3])).sum()
        }
        try gradientCheck(at: shapes.map { differentiableTensor($0, using: &generator) }) { p in
            let h = relu(matmul(p[0], p[1]) + p[2])
            return sin(matmul(h, p[3])).sum() + (h * h).sum()
        }
        try gradientCheck(at: shapes.map { differentiableTensor($0, using: &generator) }) { p in
            let h = relu(matmul(p[0], p[1]) + p[2])
            return sin(matmul(h, p[3])).sum() + sin(matmul(h, p[3])).sum() * 2
        }
    }

    func testAProductSeenElsewhereIsNotChangedInPlace() throws {
        let p = inputs(seed: 6)
        let product = matmul(p[0], p[1])
        let view = product.reshaped([15])
        let before = view.values
        let sum = product + p[2]
        XCTAssertEqual(view.values, before, "a view of the product changed")
        XCTAssertEqual(sum.gradientNode?.operation, "+")
        // The product used by another operation first: its node is not taken over.
        try gradientCheck(at: inputs(seed: 7)) { p in
            let product = matmul(p[0], p[1])
            let shifted = product - p[2]            // saves nothing: only its edge holds it
            return (relu(product + p[2]) * shifted).sum()
        }
    }

    func testNothingIsFusedOrRecordedWithoutRecording() {
        let p = inputs(seed: 8), q = leaves(p)
        let unrecorded = withoutGradientRecording { relu(matmul(p[0], p[1]) + p[2]) }
        XCTAssertFalse(unrecorded.requiresGradient)
        XCTAssertTrue(unrecorded.isLeaf)
        XCTAssertEqual(unrecorded.values, relu(matmul(q[0], q[1]) + q[2]).values)
    }
}
