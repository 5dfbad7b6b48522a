import XCTest
@testable import DeepLearning

/// The losses against targets (`MeanSquaredError`, `L1Loss`, `HuberLoss`,
/// `BinaryCrossEntropyWithLogits`) and their graph operations: PyTorch's values and gradients
/// (printed by PyTorch 2.15 for the same numbers, its edge cases included), one kernel for
/// both forms, and finite differences of the operations.
final class TargetLossTests: XCTestCase {
    private var generator = SeededGenerator(seed: 61)

    /// Differences p − t: 0 (L1's gradient 0, as PyTorch's sign), ±1 and 0.5 (|e| = delta
    /// for delta 1 and 0.5, where Huber's pieces meet), 1.25 and 3.5 (linear part).
    private let p = Tensor(shape: [2, 4], values: [0.5, -1, 2, 0.25, -0.75, 1.25, 0, 3])
    private let t = Tensor(shape: [2, 4], values: [0.5, 0, 1, -0.25, 0.25, 0, -1, -0.5])

    /// `loss`'s value and gradient on `inputs`, as the `TargetLoss` type and as the graph
    /// operation `operation`: the same bits (one kernel), and `expected`'s values.
    private func assertBothForms(_ loss: some TargetLoss, _ operation: (Tensor, Tensor) -> Tensor,
                                 _ inputs: Tensor, _ targets: Tensor,
                                 value expected: Float, gradient expectedGradient: [Float],
                                 accuracy: Float = 0, file: StaticString = #filePath,
                                 line: UInt = #line) throws {
        let value = try loss.forward(inputs, targets: targets)
        let gradient = loss.backward().values
        XCTAssertEqual(value, expected, accuracy: accuracy, file: file, line: line)
        for (got, wanted) in zip(gradient, expectedGradient) {
            XCTAssertEqual(got, wanted, accuracy: accuracy, file: file, line: line)
        }
        let leaf = inputs.detached()
        leaf.requiresGradient = true
        let result = operation(leaf, targets)
        result.backward()
        XCTAssertEqual(result.scalar.bitPattern, value.bitPattern, "operation's value", file: file, line: line)
        XCTAssertEqual(leaf.gradients.map(\.bitPattern), gradient.map(\.bitPattern),
                       "operation's gradient", file: file, line: line)
    }

    func testValuesAndGradientsArePyTorchs() throws {
        try assertBothForms(MeanSquaredError(), meanSquaredError, p, t, value: 2.2578125,
                            gradient: [0, -0.25, 0.25, 0.125, -0.25, 0.3125, 0.25, 0.875])
        try assertBothForms(L1Loss(), l1Loss, p, t, value: 1.15625,
                            gradient: [0, -0.125, 0.125, 0.125, -0.125, 0.125, 0.125, 0.125])
        try assertBothForms(HuberLoss(), { huberLoss($0, $1) }, p, t, value: 0.734375,
                            gradient: [0, -0.125, 0.125, 0.0625, -0.125, 0.125, 0.125, 0.125])
        try assertBothForms(HuberLoss(delta: 0.5), { huberLoss($0, $1, delta: 0.5) }, p, t,
                            value: 0.46875,
                            gradient: [0, -0.0625, 0.0625, 0.0625, -0.0625, 0.0625, 0.0625, 0.0625])
        // PyTorch's SmoothL1Loss(beta: 0.5) gives 0.9375: HuberLoss(delta: 0.5) / 0.5.
        XCTAssertEqual(huberLoss(p, t, delta: 0.5).scalar / 0.5, 0.9375)
        let z = Tensor(shape: [8], values: [0, 100, -100, 2.5, -3, 0.5, 20, -0.1])
        let targets = Tensor(shape: [8], values: [0, 1, 0, 1, 0.5, 0, 1, 0.3])
        try assertBothForms(BinaryCrossEntropyWithLogits(), { binaryCrossEntropy(logits: $0, targets: $1) },
                            z, targets, value: 0.49613726139068604,
                            gradient: [0.0625, 0, 0, -0.00948227196931839, -0.05657176673412323,
                                       0.07780741900205612, 0, 0.021877598017454147],
                            accuracy: 1e-7)
    }

    /// Predictions and targets whose differences stay at least 0.05 away from 0 and from
    /// ±`delta`, the kinks, so that finite differences of step 1e-2 see a smooth function.
    private func awayFromKinks(_ shape: [Int], delta: Float) -> (Tensor, Tensor) {
        let predictions = differentiableTensor(shape, using: &generator)
        let targets = differentiableTensor(shape, using: &generator)
        targets.withUnsafeMutableBufferPointer { t in
            for i in t.indices {
                var e = predictions.value[i] - t[i]
                for kink in [0, delta, -delta] where abs(e - kink) < 0.05 {
                    e = kink + (e < kink ? -0.05 : 0.05)
                }
                t[i] = predictions.value[i] - e
            }
        }
        return (predictions, targets)
    }

    func testGradientChecks() throws {
        for shape in [[1], [7], [3, 4], [2, 3, 5]] {
            let (p, t) = awayFromKinks(shape, delta: 0.5)
            try gradientCheck(at: [p, t]) { l1Loss($0[0], $0[1]) }
            try gradientCheck(at: [p, t]) { huberLoss($0[0], $0[1], delta: 0.5) }
            try gradientCheck(at: [p, t]) { meanSquaredError($0[0], $0[1]) }
            let (q, u) = awayFromKinks(shape, delta: 1)
            try gradientCheck(at: [q, u]) { huberLoss($0[0], $0[1]) }
            // Inside a larger expression: the loss's output gradient scales its gradient.
            try gradientCheck(at: [q, u]) { 3 * huberLoss(tanh($0[0]), $0[1] * 2, delta: 0.3) }
        }
    }

    func testHuberLossOfDeltaZeroStops() throws {
        try assertStops(withMessage: "HuberLoss: delta 0.0 must be positive and finite") {
            _ = HuberLoss(delta: 0)
        }
    }

    func testOperationOnShapesThatDifferStops() throws {
        try assertStops(withMessage: "l1Loss: predictions of shape [2] and targets of shape [3] differ") {
            _ = l1Loss(Tensor(shape: [2]), Tensor(shape: [3]))
        }
    }

    func testLossOnShapesThatDifferStops() throws {
        try assertStops(withMessage: "L1Loss: outputs of shape [2, 1] and targets of shape [2] differ") {
            _ = L1Loss().forward(Tensor(shape: [2, 1]), targets: Tensor(shape: [2]))
        }
    }
}
