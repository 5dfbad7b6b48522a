import Foundation
import XCTest
@testable import DeepLearning

/// `+` and `-` write their result into an operand's buffer when nothing else holds that
/// operand (an intermediate such as `b * b` in `b * b + 1`) and it has the result's shape:
/// the same values and gradients, bit for bit, as into a new buffer; an operand that
/// something else holds, or a leaf that requires a gradient, keeps its values.
final class InPlaceArithmeticTests: XCTestCase {
    private var generator = SeededGenerator(seed: 17)

    /// Each form with the intermediate taken over (`consume`) and kept alive, on copies of
    /// the same leaves.
    func testAnIntermediateTakesTheResultWithTheSameBits() {
        let forms: [(String, (consuming Tensor, Tensor) -> Tensor)] = [
            ("x + 1", { x, _ in x + 1 }), ("1 + x", { x, _ in 1 + x }),
            ("x - 1", { x, _ in x - 1 }), ("1 - x", { x, _ in 1 - x }),
            ("x + c", { x, c in x + c }), ("x - c", { x, c in x - c }),
        ]
        let b = differentiableTensor([3, 5], using: &generator)
        let c = differentiableTensor([5], using: &generator)
        let dy = randomTensor([3, 5], using: &generator)
        for (name, form) in forms {
            let (b1, c1) = (copy(b), copy(c)), (b2, c2) = (copy(b), copy(c))
            let product = b1 * b1
            let buffer = product.value
            let inPlace = form(consume product, c1)
            XCTAssertEqual(inPlace.value, buffer, "\(name): the product's buffer")
            let kept = b2 * b2
            let keptValues = kept.values
            let separate = withExtendedLifetime(kept) { form(kept, c2) }
            XCTAssertNotEqual(separate.value, kept.value, "\(name): a kept operand's buffer")
            XCTAssertEqual(kept.values, keptValues, "\(name): the kept operand's values")
            XCTAssertEqual(inPlace.values.map(\.bitPattern), separate.values.map(\.bitPattern),
                           name)
            inPlace.backward(dy)
            separate.backward(dy)
            XCTAssertEqual(b1.gradients.map(\.bitPattern), b2.gradients.map(\.bitPattern), name)
            XCTAssertEqual(c1.gradients.map(\.bitPattern), c2.gradients.map(\.bitPattern), name)
        }
    }

    /// An operand taken over as the result (in place, nothing else holds it) is, as far as
    /// anyone can tell, a new tensor: no node when nothing is recorded, though the operand
    /// had one; no gradient when the operand had one; no hook; its count as its capacity.
    func testAnOperandTakenOverAsTheResultLooksNew() {
        let x = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        let unrecorded = withoutGradientRecording {
            let product = withGradientRecording { x * x }
            let buffer = product.value
            let sum = (consume product) + 1
            XCTAssertEqual(sum.value, buffer, "in place")
            return sum
        }
        XCTAssertTrue(unrecorded.isLeaf)
        XCTAssertFalse(unrecorded.requiresGradient)
        XCTAssertEqual(unrecorded.values, [2, 5])

        let withGradient = x * x
        XCTAssertEqual(withGradient.gradients, [0, 0]) // gives it a gradient buffer
        let buffer = withGradient.value
        let sum = (consume withGradient) + 1
        XCTAssertEqual(sum.value, buffer, "in place")
        XCTAssertNil(sum.gradient)
        sum.backward(Tensor(shape: [2], values: [1, 1]))
        XCTAssertEqual(x.gradients, [2, 4])

        let hooked = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        hooked.onGradientAccumulated { _ in }
        hooked.requiresGradient = false
        let hookedBuffer = hooked.value
        let hookedSum = (consume hooked) + 1
        XCTAssertEqual(hookedSum.value, hookedBuffer, "in place")
        XCTAssertTrue(hookedSum.gradientHooks.isEmpty)
        XCTAssertEqual(hookedSum.values, [2, 3])

        // A layer's buffer reshaped below its capacity.
        let shrunk = Tensor.reusing(Tensor.reusing(nil, shape: [4]), shape: [2])
        shrunk.withUnsafeMutableBufferPointer { $0.update(repeating: 3) }
        let shrunkBuffer = shrunk.value
        let shrunkSum = (consume shrunk) + 1
        XCTAssertEqual(shrunkSum.value, shrunkBuffer, "in place")
        XCTAssertEqual(shrunkSum.capacity, 2)
        XCTAssertEqual(shrunkSum.values, [4, 4])
    }

    /// Not in place: a leaf that requires a gradient, an operand of another shape than the
    /// result's (broadcast), a view's storage that another tensor shares. A plain tensor that
    /// nothing else holds is.
    func testOperandsOthersCanSeeAreNotWritten() {
        let leaf = differentiableTensor([4], using: &generator)
        let buffer = leaf.value
        let sum = consumingSum(consume leaf) // held by the sum's node
        XCTAssertNotEqual(sum.value, buffer)
        let row = Tensor(shape: [1, 4], values: [1, 2, 3, 4])
        let broadcast = row + Tensor(shape: [3, 1], values: [1, 2, 3])
        XCTAssertEqual(broadcast.shape, [3, 4])
        XCTAssertEqual(broadcast.values, [2, 3, 4, 5, 3, 4, 5, 6, 4, 5, 6, 7])
        let base = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let view = base.reshaped([4])
        let shifted = consumingSum(view)
        XCTAssertEqual(base.values, [1, 2, 3, 4])
        XCTAssertEqual(shifted.values, [2, 3, 4, 5])
        let plain = Tensor(shape: [2], values: [1, 2])
        let plainBuffer = plain.value
        let plainSum = (consume plain) + 1
        XCTAssertEqual(plainSum.value, plainBuffer)
        XCTAssertEqual(plainSum.values, [2, 3])
    }

    /// Operands that something else still reads keep their values, each at its last use:
    /// h in `h + h` and `h - h` (both operands), h saved by `h * h`, the outputs exp and tanh
    /// save, a leaf's gradient and a detached view of an intermediate.
    func testOperandsReadElsewhereKeepTheirValues() {
        let x = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
        let twice = sumWithItself(x) + differenceWithItself(x)
        XCTAssertEqual(twice.values, [4, 8, 12])
        twice.backward(Tensor(shape: [3], values: [1, 1, 1]))
        XCTAssertEqual(x.gradients, [4, 4, 4])
        x.zeroGradient()
        let saved = squarePlusItself(x) // 4x² + 2x + 1
        XCTAssertEqual(saved.values, [7, 21, 43])
        saved.backward(Tensor(shape: [3], values: [1, 1, 1]))
        XCTAssertEqual(x.gradients, [10, 18, 26]) // 8x + 2
        for (name, function, derivative) in [
            ("exp", { (t: Tensor) in exp(t) }, { (v: Double) in Foundation.exp(v) }),
            ("tanh", { (t: Tensor) in tanh(t) },
             { (v: Double) in 1 - Foundation.tanh(v) * Foundation.tanh(v) }),
        ] {
            let z = Tensor(shape: [3], values: [-1, 0.5, 2], requiresGradient: true)
            (function(z) + 1).backward(Tensor(shape: [3], values: [1, 1, 1]))
            assertClose(z.gradients, z.values.map { derivative(Double($0)) }, tolerance: 1e-6, name)
        }
        x.zeroGradient()
        (x * 2).backward(Tensor(shape: [3], values: [1, 1, 1]))
        let shiftedGradient = x.gradient! + 1
        XCTAssertEqual(shiftedGradient.values, [3, 3, 3])
        XCTAssertEqual(x.gradients, [2, 2, 2])
        let h = x * 5
        let shifted = h.detached() - 1
        XCTAssertEqual(shifted.values, [4, 9, 14])
        XCTAssertEqual(h.values, [5, 10, 15])
    }

    private func sumWithItself(_ x: Tensor) -> Tensor {
        let h = x * 2
        return h + h
    }

    private func differenceWithItself(_ x: Tensor) -> Tensor {
        let h = x * 2
        return h - h
    }

    /// h * h + (h + 1) for h = 2x, h taken over by `+`: the product saved h, which `h + 1`
    /// must not overwrite.
    private func squarePlusItself(_ x: Tensor) -> Tensor {
        let h = x * 2
        let square = h * h
        return square + ((consume h) + 1)
    }

    /// `tensor + 1`, the tensor taken over.
    private func consumingSum(_ tensor: consuming Tensor) -> Tensor { tensor + 1 }

    /// A new leaf that requires a gradient, with `tensor`'s shape and values.
    private func copy(_ tensor: Tensor) -> Tensor {
        Tensor(shape: tensor.shape, values: tensor.values, requiresGradient: true)
    }
}
