// The batch-normalization kernels against naive Double references, on N x F (pixels = 1) and
// N x C x H x W layouts of odd sizes and on sizes that go parallel.
import CKernels
import DeepLearning
import XCTest

/// A batch x channels x pixels tensor and per-channel parameters and statistics.
private struct BatchNormCase: CustomStringConvertible {
    let batch, channels, pixels: Int
    var count: Int { batch * channels * pixels }
    var n: Double { Double(batch * pixels) }
    var description: String { "\(batch)x\(channels)x\(pixels)" }

    /// The element indices of channel c, in (b, i) order.
    func indices(of c: Int) -> [Int] {
        (0..<batch).flatMap { b in (0..<pixels).map { (b * channels + c) * pixels + $0 } }
    }
}

private let cases = [
    BatchNormCase(batch: 5, channels: 3, pixels: 1),
    BatchNormCase(batch: 2, channels: 1, pixels: 1),
    BatchNormCase(batch: 7, channels: 13, pixels: 1),
    BatchNormCase(batch: 2, channels: 4, pixels: 7),
    BatchNormCase(batch: 3, channels: 5, pixels: 9),
    BatchNormCase(batch: 1, channels: 2, pixels: 15),
    BatchNormCase(batch: 3, channels: 2, pixels: 17),
    BatchNormCase(batch: 4, channels: 3, pixels: 64),
    // N x F wider than the kernels' block of 64 channels, by a partial block.
    BatchNormCase(batch: 6, channels: 131, pixels: 1),
]

/// Sizes of at least CK_PARALLEL_MIN_ELEMENTS elements: a parallel region with 2 threads.
private let parallelCases = [
    BatchNormCase(batch: 4099, channels: 17, pixels: 1),
    BatchNormCase(batch: 300, channels: 201, pixels: 1),
    BatchNormCase(batch: 9, channels: 7, pixels: 37 * 29),
]

private let eps: Float = 1e-5
private let momentum: Float = 0.1

/// Everything the kernels read, drawn at random; x is offset so the mean is not near 0.
private struct Inputs {
    var x, dy, gamma, beta, runningMean, runningVar: [Float]
    init(_ g: BatchNormCase, using rng: inout SeededGenerator) {
        x = randomFloats(g.count, in: -1...3, using: &rng)
        dy = randomFloats(g.count, using: &rng)
        gamma = randomFloats(g.channels, in: 0.5...2, using: &rng)
        beta = randomFloats(g.channels, using: &rng)
        runningMean = randomFloats(g.channels, using: &rng)
        runningVar = randomFloats(g.channels, in: 0.5...2, using: &rng)
    }
}

/// The outputs of the kernels.
private struct Outputs {
    var y, mean, invStd, runningMean, runningVar, dx, dgamma, dbeta: [Float]
    var all: [Float] { y + mean + invStd + runningMean + runningVar + dx + dgamma + dbeta }
}

/// Runs forward (training or inference) then backward, with dgamma and dbeta starting at 0.5
/// to check that they accumulate.
private func runKernels(_ g: BatchNormCase, _ p: Inputs, training: Bool) -> Outputs {
    var o = Outputs(y: .init(repeating: sentinel, count: g.count),
                    mean: .init(repeating: sentinel, count: g.channels),
                    invStd: .init(repeating: sentinel, count: g.channels),
                    runningMean: p.runningMean, runningVar: p.runningVar,
                    dx: .init(repeating: sentinel, count: g.count),
                    dgamma: .init(repeating: 0.5, count: g.channels),
                    dbeta: .init(repeating: 0.5, count: g.channels))
    let (n, c, px) = (Int64(g.batch), Int64(g.channels), Int64(g.pixels))
    if training {
        ck_batch_norm_forward_training(n, c, px, p.x, p.gamma, p.beta, eps, momentum, &o.y,
                                       &o.mean, &o.invStd, &o.runningMean, &o.runningVar)
    } else {
        ck_batch_norm_forward_inference(n, c, px, p.x, p.gamma, p.beta, p.runningMean,
                                        p.runningVar, eps, &o.y, &o.mean, &o.invStd)
    }
    ck_batch_norm_backward(n, c, px, p.x, p.dy, p.gamma, o.mean, o.invStd, training ? 1 : 0,
                           &o.dx, &o.dgamma, &o.dbeta)
    return o
}

/// The same in Double, straight from the definitions.
private func reference(_ g: BatchNormCase, _ p: Inputs, training: Bool)
    -> (y: [Double], runningMean: [Double], runningVar: [Double], dx: [Double],
        dgamma: [Double], dbeta: [Double])
{
    var y = [Double](repeating: 0, count: g.count), dx = y
    var runningMean = p.runningMean.map(Double.init), runningVar = p.runningVar.map(Double.init)
    var dgamma = [Double](repeating: 0.5, count: g.channels), dbeta = dgamma
    for c in 0..<g.channels {
        let idx = g.indices(of: c)
        let x = idx.map { Double(p.x[$0]) }, dy = idx.map { Double(p.dy[$0]) }
        var mean = Double(p.runningMean[c]), variance = Double(p.runningVar[c])
        if training {
            mean = x.reduce(0, +) / g.n
            variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / g.n
            let m = Double(momentum)
            runningMean[c] = (1 - m) * runningMean[c] + m * mean
            runningVar[c] = (1 - m) * runningVar[c] + m * variance * g.n / (g.n - 1)
        }
        let invStd = 1 / (variance + Double(eps)).squareRoot()
        let xhat = x.map { ($0 - mean) * invStd }
        let sumDy = dy.reduce(0, +), sumDyXhat = zip(dy, xhat).reduce(0) { $0 + $1.0 * $1.1 }
        dgamma[c] += sumDyXhat
        dbeta[c] += sumDy
        let gamma = Double(p.gamma[c])
        for (k, index) in idx.enumerated() {
            y[index] = gamma * xhat[k] + Double(p.beta[c])
            dx[index] = training
                ? gamma * invStd / g.n * (g.n * dy[k] - sumDy - xhat[k] * sumDyXhat)
                : gamma * invStd * dy[k]
        }
    }
    return (y, runningMean, runningVar, dx, dgamma, dbeta)
}

final class BatchNormKernelTests: XCTestCase {
    private func check(_ g: BatchNormCase, training: Bool, seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        let p = Inputs(g, using: &rng)
        let o = runKernels(g, p, training: training)
        let r = reference(g, p, training: training)
        let what = "\(g) \(training ? "training" : "inference")"
        // Outputs are O(gamma * 4); sums over n elements carry n-proportional rounding.
        let tolerance = 2e-6 * (1 + g.n.squareRoot())
        assertClose(o.y, r.y, tolerance: tolerance * 8, "y " + what)
        assertClose(o.runningMean, r.runningMean, tolerance: 1e-6, "running mean " + what)
        assertClose(o.runningVar, r.runningVar, tolerance: 1e-6, "running var " + what)
        assertClose(o.dx, r.dx, tolerance: tolerance * 8, "dx " + what)
        assertClose(o.dgamma, r.dgamma, tolerance: tolerance * g.n, "dgamma " + what)
        assertClose(o.dbeta, r.dbeta, tolerance: tolerance * g.n, "dbeta " + what)
    }

    func testTrainingMatchesReference() {
        for (i, g) in (cases + parallelCases).enumerated() { check(g, training: true, seed: UInt64(i)) }
    }

    func testInferenceMatchesReference() {
        for (i, g) in (cases + parallelCases).enumerated() { check(g, training: false, seed: UInt64(50 + i)) }
    }

    /// Running variance: PyTorch's unbiased batch variance. x = (1, 3): mean 2, biased
    /// variance 1, unbiased 2; from (0, 1): mean 0.2, variance 0.9 + 0.2.
    func testRunningStatisticsUseTheUnbiasedVariance() {
        let x: [Float] = [1, 3]
        var y = [Float](repeating: 0, count: 2), mean: [Float] = [0], invStd: [Float] = [0]
        var runningMean: [Float] = [0], runningVar: [Float] = [1]
        ck_batch_norm_forward_training(2, 1, 1, x, [1], [0], 0, 0.1, &y, &mean, &invStd,
                                       &runningMean, &runningVar)
        XCTAssertEqual(mean, [2])
        XCTAssertEqual(invStd, [1])
        XCTAssertEqual(y, [-1, 1])
        XCTAssertEqual(runningMean[0], 0.2, accuracy: 1e-7)
        XCTAssertEqual(runningVar[0], 1.1, accuracy: 1e-7)
    }

    /// With gamma 1 the kernel scales by its saved inv_std: y = (x - mean) * inv_std + beta and
    /// the running mean (1 - momentum) * old + momentum * mean, each product and sum rounded on
    /// its own, the bits of every instruction set (an AVX-512 clone that fused them would
    /// round once where the others round twice). Both layouts, on sizes that go parallel.
    func testEachProductAndSumIsRoundedOnItsOwn() {
        for g in [cases.last!] + parallelCases {
            var rng = SeededGenerator(seed: 61)
            var p = Inputs(g, using: &rng)
            p.gamma = [Float](repeating: 1, count: g.channels)
            let o = runKernels(g, p, training: true)
            var y = [Float](repeating: 0, count: g.count)
            for c in 0..<g.channels {
                for index in g.indices(of: c) {
                    y[index] = (p.x[index] - o.mean[c]) * o.invStd[c] + p.beta[c]
                }
            }
            assertBitwiseEqual(o.y, y, "y \(g)")
            assertBitwiseEqual(o.runningMean, zip(p.runningMean, o.mean).map { old, mean in
                (1 - momentum) * old + momentum * mean
            }, "running mean \(g)")
        }
    }

    /// Backward with a NULL dx accumulates the same parameter gradients.
    func testBackwardWithoutInputGradient() {
        for g in [cases[3], cases.last!] {
            var rng = SeededGenerator(seed: 9)
            let p = Inputs(g, using: &rng)
            let full = runKernels(g, p, training: true)
            var dgamma = [Float](repeating: 0.5, count: g.channels), dbeta = dgamma
            ck_batch_norm_backward(Int64(g.batch), Int64(g.channels), Int64(g.pixels), p.x, p.dy,
                                   p.gamma, full.mean, full.invStd, 1, nil, &dgamma, &dbeta)
            assertBitwiseEqual(dgamma + dbeta, full.dgamma + full.dbeta, "\(g)")
        }
    }

    func testSameBitsForOneAndTwoThreads() {
        for training in [true, false] {
            for (i, g) in parallelCases.enumerated() {
                var rng = SeededGenerator(seed: UInt64(100 + i))
                let p = Inputs(g, using: &rng)
                assertSameResultForThreadCounts([1, 2], "\(g) training \(training)") {
                    runKernels(g, p, training: training).all
                }
            }
        }
    }
}
