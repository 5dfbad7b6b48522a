import XCTest
@testable import DeepLearning

/// `clipGradientNorm` against a naive reference and PyTorch's `clip_grad_norm_`, on 1 and 2
/// threads, with non-finite gradients, in `fit`, and its stop on a bad `maxNorm`.
final class GradientClippingTests: XCTestCase {
    /// A parameter of `values.count` zeros whose gradient is `values`.
    private func parameter(gradient values: [Float]) -> Tensor {
        let tensor = Tensor(shape: [values.count], values: [Float](repeating: 0, count: values.count),
                            requiresGradient: true)
        tensor.writableGradientPointer.update(from: values, count: values.count)
        return tensor
    }

    private func gradientBits(_ parameters: [Tensor]) -> [UInt32] {
        parameters.flatMap(\.gradients).map(\.bitPattern)
    }

    /// Awkward sizes, one large enough for the sum to run on both threads: the total is the
    /// in-order double sum's square root, and every gradient is multiplied by PyTorch's
    /// coefficient from that total, or left alone when it is not below 1.
    func testMatchesANaiveReference() {
        var generator = SeededGenerator(seed: 7)
        let sizes = [1, 2, 15, 17, 31, 4099, 300_007]
        let gradients = sizes.map { n in (0..<n).map { _ in Float.random(in: -1...1, using: &generator) } }
        let sumOfSquares = gradients.joined().reduce(0.0) { $0 + Double($1) * Double($1) }
        let reference = Float(sumOfSquares.squareRoot())
        for maxNorm in [reference / 3, reference * 0.999, reference * 2, 0] {
            let parameters = gradients.map(parameter(gradient:))
            let total = clipGradientNorm(parameters, maxNorm: maxNorm)
            XCTAssertEqual(total, reference, accuracy: reference.ulp, "maxNorm \(maxNorm)")
            let coefficient = maxNorm / (total + 1e-6)
            let expected = coefficient < 1 ? gradients.map { $0.map { $0 * coefficient } } : gradients
            XCTAssertEqual(gradientBits(parameters), expected.joined().map(\.bitPattern),
                           "maxNorm \(maxNorm)")
        }
    }

    /// PyTorch 2's `clip_grad_norm_` on the same gradients gives these bits (computed with
    /// torch.nn.utils.clip_grad_norm_ on float32 tensors): [3, 4] and [12] have norm 13.
    func testMatchesPyTorch() {
        let cases: [(maxNorm: Float, gradients: [Float])] = [
            (6.5, [0x1.7ffffep+0, 0x1.fffffep+0, 0x1.7ffffep+2]),
            // 13 / (13 + 1e-6) is below 1 in float: PyTorch scales, by one ulp.
            (13, [0x1.7ffffep+1, 0x1.fffffep+1, 0x1.7ffffep+3]),
            (12.999, [0x1.7ff86ep+1, 0x1.fff5e8p+1, 0x1.7ff86ep+3]),
            (14, [3, 4, 12]),
        ]
        for (maxNorm, expected) in cases {
            let parameters = [parameter(gradient: [3, 4]), parameter(gradient: [12])]
            XCTAssertEqual(clipGradientNorm(parameters, maxNorm: maxNorm), 13)
            XCTAssertEqual(parameters.flatMap(\.gradients), expected, "maxNorm \(maxNorm)")
        }
        let small = [parameter(gradient: [0.1, -0.2, 0.3]), parameter(gradient: [1e-3])]
        XCTAssertEqual(clipGradientNorm(small, maxNorm: 0.05), 0x1.7f25a8p-2)
        XCTAssertEqual(small.flatMap(\.gradients),
                       [0x1.b5e0cap-7, -0x1.b5e0cap-6, 0x1.486898p-5, 0x1.183df2p-13])
    }

    /// As PyTorch's default (error_if_nonfinite false): an infinite total scales by 0, a NaN
    /// total makes every gradient NaN.
    func testNonFiniteTotalsScaleAsPyTorch() {
        let infinite = [parameter(gradient: [.infinity, 1]), parameter(gradient: [2])]
        XCTAssertEqual(clipGradientNorm(infinite, maxNorm: 1), .infinity)
        let scaled = infinite.flatMap(\.gradients)
        XCTAssertTrue(scaled[0].isNaN)
        XCTAssertEqual(Array(scaled.dropFirst()), [0, 0])
        let notANumber = [parameter(gradient: [.nan, 1]), parameter(gradient: [2])]
        XCTAssertTrue(clipGradientNorm(notANumber, maxNorm: 1).isNaN)
        XCTAssertTrue(notANumber.flatMap(\.gradients).allSatisfy(\.isNaN))
    }

    /// A parameter without a gradient is skipped (and keeps none); one listed twice counts
    /// once and is scaled once.
    func testSkipsParametersWithoutAGradientAndCountsEachOnce() {
        let withGradient = parameter(gradient: [3, 4])
        let without = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
        XCTAssertEqual(clipGradientNorm([withGradient, without, withGradient], maxNorm: 2.5), 5)
        XCTAssertFalse(without.hasGradient)
        let coefficient: Float = 2.5 / (5 + 1e-6)
        XCTAssertEqual(withGradient.gradients, [3 * coefficient, 4 * coefficient])
        XCTAssertEqual(clipGradientNorm([], maxNorm: 1), 0)
    }

    func testSameBitsOnOneAndTwoThreads() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        var generator = SeededGenerator(seed: 8)
        let gradients = [300_007, 5, 70_001].map { n in
            (0..<n).map { _ in Float.random(in: -3...3, using: &generator) }
        }
        var runs: [[UInt32]] = []
        for threads in [1, 2] {
            Threads.count = threads
            let parameters = gradients.map(parameter(gradient:))
            let total = clipGradientNorm(parameters, maxNorm: 10)
            runs.append([total.bitPattern] + gradientBits(parameters))
        }
        XCTAssertEqual(runs[0], runs[1])
    }

    /// In `fit`, `beforeStep` clips every batch's gradients before the update: after `fit`,
    /// the last batch's gradients have a norm of at most `maxNorm`, and the clipped training
    /// differs from the unclipped one.
    func testClipsInFitsBeforeStep() throws {
        func train(clipping: Bool) throws -> Model {
            let model = Model { Linear(2, 8); ReLU(); Linear(8, 3) }
            model.initializeParameters(seed: 3)
            let (x, y) = spiral(pointsPerClass: 20, classes: 3, seed: 1)
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.5)
            try model.fit(x, labels: y, optimizer: optimizer, epochs: 3, batchSize: 16,
                          beforeStep: { _, _ in
                              if clipping { clipGradientNorm(model.parameters, maxNorm: 0.01) }
                          })
            return model
        }
        let clipped = try train(clipping: true)
        let norm = clipped.parameters.flatMap(\.gradients)
            .reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertLessThanOrEqual(norm, 0.01 * (1 + 1e-5))
        XCTAssertNotEqual(clipped.parameters.flatMap(\.values),
                          try train(clipping: false).parameters.flatMap(\.values))
    }

    /// The examples of `clipGradientNorm`'s documentation, verbatim.
    func testDocumentationExamples() throws {
        let model = Model { Linear(2, 8); ReLU(); Linear(8, 3) }
        let (x, y) = spiral(pointsPerClass: 10, classes: 3)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)

        optimizer.zeroGrad()
        let loss = SoftmaxCrossEntropy()
        _ = try loss.forward(model.forward(x), labels: y)
        model.backward(loss.backward())
        let norm = clipGradientNorm(model.parameters, maxNorm: 1)
        optimizer.step()

        try model.fit(x, labels: y, optimizer: optimizer, epochs: 10, batchSize: 32,
                      beforeStep: { _, _ in clipGradientNorm(model.parameters, maxNorm: 1) })
        XCTAssertGreaterThan(norm, 0)
    }

    func testStopsOnANegativeMaxNorm() throws {
        try assertStops(withMessage: "clipGradientNorm: maxNorm -1.0 must not be negative") {
            clipGradientNorm([parameter(gradient: [1])], maxNorm: -1)
        }
    }

    func testStopsOnANaNMaxNorm() throws {
        try assertStops(withMessage: "clipGradientNorm: maxNorm is NaN; it must be a number of at least 0") {
            clipGradientNorm([parameter(gradient: [1])], maxNorm: .nan)
        }
    }
}
