import CKernels
import DeepLearning
import XCTest

/// `ck_l1_loss` and `ck_huber_loss` against naive Double references of PyTorch's formulas,
/// on random sizes with the awkward points planted: differences of exactly 0 (L1's gradient
/// is 0 there) and of exactly ±delta (where Huber's two pieces meet).
final class DifferenceLossKernelTests: XCTestCase {
    /// The kernel's signature, Huber's delta bound.
    private typealias Kernel = (Int64, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void

    /// Runs `kernel` on `p` and `t`, with a gradient buffer or without (it must stay
    /// untouched): the loss and the buffer.
    private func run(_ kernel: Kernel, _ p: [Float], _ t: [Float], withGradient: Bool)
        -> (loss: Float, gradient: [Float])
    {
        var loss: Float = sentinel
        var dp = [Float](repeating: sentinel, count: p.count)
        p.withUnsafeBufferPointer { ps in
            t.withUnsafeBufferPointer { ts in
                dp.withUnsafeMutableBufferPointer {
                    kernel(Int64(p.count), ps.baseAddress, ts.baseAddress,
                           withGradient ? $0.baseAddress : nil, &loss)
                }
            }
        }
        return (loss, dp)
    }

    /// Random predictions and targets of `n` elements whose differences include exact zeros
    /// and exact ±delta.
    private func data(_ n: Int, delta: Float, using rng: inout SeededGenerator) -> ([Float], [Float]) {
        let p = randomFloats(n, in: -2...2, using: &rng)
        var t = randomFloats(n, in: -2...2, using: &rng)
        for i in stride(from: 0, to: n, by: 5) { t[i] = p[i] }
        // p − (p ∓ delta) is exactly ±delta for these dyadic values.
        for i in stride(from: 1, to: n, by: 5) { t[i] = (p[i] * 256).rounded() / 256 }
        var q = p
        for i in stride(from: 1, to: n, by: 5) { q[i] = t[i] + (i % 2 == 0 ? delta : -delta) }
        return (q, t)
    }

    /// Checks `kernel` against the per-element `loss` and `gradient` references (of the
    /// difference, in Double; the gradient before the mean's 1 / n).
    private func check(_ kernel: Kernel, delta: Float, _ what: String,
                       loss: (Double) -> Double, gradient: (Double) -> Double) {
        var rng = SeededGenerator(seed: 41)
        for n in [1, 7, 1023, 70_001] {
            let (p, t) = data(n, delta: delta, using: &rng)
            let errors = zip(p, t).map { Double($0.0 - $0.1) }
            let (value, dp) = run(kernel, p, t, withGradient: true)
            let expected = errors.reduce(0) { $0 + loss($1) } / Double(n)
            XCTAssertEqual(Double(value), expected, accuracy: 1e-6 * (1 + expected), "\(what) n \(n)")
            assertClose(dp, errors.map { gradient($0) / Double(n) }, tolerance: 1e-7 / Double(n),
                        "\(what) gradient n \(n)")
            let (lossOnly, untouched) = run(kernel, p, t, withGradient: false)
            XCTAssertEqual(lossOnly, value, "\(what) without a gradient")
            assertBitwiseEqual(untouched, [Float](repeating: sentinel, count: n))
            if n > 32768 {
                assertSameResultForThreadCounts {
                    let (loss, gradient) = run(kernel, p, t, withGradient: true)
                    return [loss] + gradient
                }
            }
        }
    }

    func testL1LossMatchesReference() {
        check(ck_l1_loss, delta: 0.5, "L1", loss: { abs($0) },
              gradient: { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 })
    }

    func testHuberLossMatchesReference() {
        for delta: Float in [1, 0.5, 0.25] {
            let d = Double(delta)
            check({ ck_huber_loss($0, delta, $1, $2, $3, $4) }, delta: delta, "Huber \(delta)",
                  loss: { abs($0) < d ? 0.5 * $0 * $0 : d * (abs($0) - 0.5 * d) },
                  gradient: { min(max($0, -d), d) })
        }
    }

    /// At |p − t| = delta both pieces give delta² / 2 and the gradient is ±delta / n, as
    /// PyTorch's `HuberLoss`; at p = t, L1's gradient is 0, as PyTorch's `sign`.
    func testEdgesAreExact() {
        let p: [Float] = [1.5, -0.5, 2, 2], t: [Float] = [1, 0, 2, 2]   // e: 0.5, -0.5, 0, 0
        let huber = run({ ck_huber_loss($0, 0.5, $1, $2, $3, $4) }, p, t, withGradient: true)
        XCTAssertEqual(huber.loss, 2 * 0.125 / 4)
        XCTAssertEqual(huber.gradient, [0.125, -0.125, 0, 0])
        let l1 = run(ck_l1_loss, p, t, withGradient: true)
        XCTAssertEqual(l1.loss, 0.25)
        XCTAssertEqual(l1.gradient, [0.25, -0.25, 0, 0])
    }
}
