import XCTest
@testable import DeepLearning

/// Binary cross-entropy of infinite logits: the limit of the loss, not inf − inf or inf · 0.
final class BinaryCrossEntropyInfiniteLogitTests: XCTestCase {
    /// Each logit alone, as the graph operation and as the loss type: +∞ with targets 0 and 0.5
    /// gives +∞ (PyTorch's value), +∞ with target 1 and −∞ with target 0 give 0 (PyTorch:
    /// NaN), −∞ with target 1 gives +∞; the gradient stays σ(z) − t.
    func testInfiniteLogitsGiveTheLimitOfTheLoss() {
        let cases: [(z: Float, t: Float, loss: Float, gradient: Float)] = [
            (.infinity, 0, .infinity, 1), (.infinity, 0.5, .infinity, 0.5),
            (.infinity, 1, 0, 0), (-.infinity, 0, 0, 0), (-.infinity, 1, .infinity, -1),
        ]
        for c in cases {
            let z = Tensor(shape: [1], values: [c.z], requiresGradient: true)
            let t = Tensor(shape: [1], values: [c.t])
            let loss = binaryCrossEntropy(logits: z, targets: t)
            XCTAssertEqual(loss.scalar, c.loss, "z \(c.z), t \(c.t)")
            loss.backward()
            XCTAssertEqual(z.gradients, [c.gradient], "z \(c.z), t \(c.t)")
            let type = BinaryCrossEntropyWithLogits()
            XCTAssertEqual(type.forward(z, targets: t), c.loss, "z \(c.z), t \(c.t)")
        }
    }

    /// Among finite logits, an infinite one makes the mean infinite rather than NaN.
    func testOneInfiniteLogitMakesTheMeanInfinite() {
        let z = Tensor(shape: [3], values: [0.5, .infinity, -2])
        let t = Tensor(shape: [3], values: [1, 0, 0])
        XCTAssertEqual(binaryCrossEntropy(logits: z, targets: t).scalar, .infinity)
    }
}
