// Sums in 16 double lanes (CKernels/sum_lanes.h): ck_sum, the broadcasting kernels' sums
// over the last dimension and the losses of a difference add term j of a run's full blocks
// of 16 to lane j % 16 and the terms past them to one more sum, and fold the lanes in a fixed
// tree. Checked bit for bit against that order written in Swift, against the exact sum in
// Double (within an ulp), on awkward values, and on rows with a scalar operand.
import CKernels
import DeepLearning
import XCTest

/// laneTotal of float terms, rounded to float.
private func laneSum(_ terms: [Float], start: Double = 0) -> Float {
    Float(laneTotal(terms.map(Double.init), start: start))
}

final class LaneSumKernelTests: XCTestCase {
    /// Lengths around the blocks of 16, one chunk of ck_sum (up to 4096 elements).
    private let lengths = Array(0...70) + [255, 256, 257, 4095, 4096]

    func testSumsAddInTheLanesOrder() {
        var rng = SeededGenerator(seed: 91)
        for n in lengths {
            let x = randomFloats(n, using: &rng)
            assertBitwiseEqual([ck_sum(Int64(n), x)], [laneSum(x)], "ck_sum of \(n)")
            guard n > 1 else { continue } // one element: no sum
            // Two rows, each summed along the last axis, scaled by 0.5 (exact).
            let xx = x + x.reversed()
            var y = [Float](repeating: sentinel, count: 2)
            ck_sum_to(2, [2, Int64(n)], xx, [1, 0], 0.5, 0, &y)
            assertBitwiseEqual(y, [laneSum(x.map { $0 * 0.5 }), laneSum(x.reversed().map { $0 * 0.5 })],
                               "ck_sum_to of 2 x \(n)")
            var accumulated: [Float] = [0.25, -3]
            ck_sum_to(2, [2, Int64(n)], xx, [1, 0], 0.5, 1, &accumulated)
            assertBitwiseEqual(accumulated, [laneSum(x.map { $0 * 0.5 }, start: 0.25),
                                             laneSum(x.reversed().map { $0 * 0.5 }, start: -3)],
                               "ck_sum_to of 2 x \(n), accumulating")
            // The gradient of b [1] in a [n] * b: the sum of dy * a.
            let a = randomFloats(n, using: &rng)
            var db: [Float] = [sentinel]
            ck_binary_gradient(CK_BINARY_MULTIPLY, 1, 1, [Int64(n)], x, a, [1], [2], [0], 0, &db)
            assertBitwiseEqual(db, [laneSum(zip(x, a).map { $0 * $1 })], "gradient of a scalar, \(n)")
        }
    }

    /// The losses of a difference sum their per-element losses (in double) in the lanes'
    /// order: within one chunk (up to 1024 elements), the mean of the lanes' total. The
    /// squared error's gradient is (2 / n) · e in float.
    func testDifferenceLossesAddInTheLanesOrder() {
        var rng = SeededGenerator(seed: 95)
        for n in Array(1...70) + [255, 256, 257, 1024] {
            let p = randomFloats(n, in: -2...2, using: &rng), t = randomFloats(n, in: -2...2, using: &rng)
            let e = zip(p, t).map { $0 - $1 }
            let delta: Float = 0.5, d = Double(delta)
            let losses: [(String, (Double) -> Double, (Int64, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>) -> Void)] = [
                ("squared", { $0 * $0 }, { ck_mean_squared_error($0, p, t, $1, $2) }),
                ("absolute", { abs($0) }, { ck_l1_loss($0, p, t, $1, $2) }),
                ("Huber", { abs($0) < d ? 0.5 * abs($0) * abs($0) : d * (abs($0) - 0.5 * d) },
                 { ck_huber_loss($0, delta, p, t, $1, $2) }),
            ]
            for (what, loss, kernel) in losses {
                var value: Float = sentinel
                var dp = [Float](repeating: sentinel, count: n)
                kernel(Int64(n), &dp, &value)
                let expected = Float(laneTotal(e.map { loss(Double($0)) }) / Double(n))
                assertBitwiseEqual([value], [expected], "\(what) error of \(n)")
                if what == "squared" {
                    let scale = 2 / Float(n)
                    assertBitwiseEqual(dp, e.map { scale * $0 }, "squared error's gradient of \(n)")
                }
            }
        }
    }

    func testLongSumsAreTheDoubleSumsRounded() {
        var rng = SeededGenerator(seed: 92)
        for n in [65_537, 1_000_003] {
            let x = randomFloats(n, in: 0...1, using: &rng)
            let exact = x.reduce(0.0) { $0 + Double($1) }
            assertClose([ck_sum(Int64(n), x)], [exact], tolerance: Double(Float(exact).ulp), "ck_sum of \(n)")
            var y: [Float] = [sentinel]
            ck_sum_to(2, [1, Int64(n)], x, [0, 0], 1, 0, &y)
            assertClose(y, [exact], tolerance: Double(Float(exact).ulp), "ck_sum_to of \(n)")
        }
    }

    func testSumsOfAwkwardValues() {
        let inf = Float.infinity, big = Float.greatestFiniteMagnitude
        let tiny = Float.leastNonzeroMagnitude
        let cases: [(String, [Float], Float)] = [
            ("+inf and -inf in two lanes", [inf, -inf], .nan),
            ("+inf among finite values", [1, 2, inf] + [Float](repeating: 1, count: 30), inf),
            ("NaN", [Float](repeating: 1, count: 40) + [.nan], .nan),
            ("past the largest float", [big, big], inf),
            ("back below the largest float", [big, big, -big], big),
            ("subnormals, exactly", [Float](repeating: tiny, count: 37), 37 * tiny),
            ("-0.0 everywhere (from +0)", [Float](repeating: -0.0, count: 20), 0),
            // 2^60 + 1 rounds to 2^60 in the lanes' total; -2^60, past the block, comes after.
            ("a term past the last full block added after the lanes",
             [0x1p60, 1] + [Float](repeating: 0, count: 14) + [-0x1p60], 0),
        ]
        for (what, x, expected) in cases {
            var y: [Float] = [sentinel]
            ck_sum_to(1, [Int64(x.count)], x, [0], 1, 0, &y)
            if expected.isNaN { // any NaN
                assertEqualValues([ck_sum(Int64(x.count), x)] + y, [expected, expected], what)
            } else {
                assertBitwiseEqual([ck_sum(Int64(x.count), x)] + y, [expected, expected], what)
            }
        }
        // Accumulating -0.0 terms onto -0.0 keeps the sign, as an in-order sum does.
        var y: [Float] = [-0.0]
        ck_sum_to(1, [20], [Float](repeating: -0.0, count: 20), [0], 1, 1, &y)
        assertBitwiseEqual(y, [-0.0], "-0.0 accumulated onto -0.0")
        y = [-0.0]
        ck_sum_to(1, [20], [Float](repeating: -0.0, count: 19) + [0], [0], 1, 1, &y)
        assertBitwiseEqual(y, [0], "+0.0 among -0.0 terms")
    }

    func testLongRowSumsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 93)
        let x = randomFloats(1_000_003, using: &rng)
        assertSameResultForThreadCounts { [ck_sum(Int64(x.count), x)] }
        assertSameResultForThreadCounts { () -> [Float] in
            var y = [Float](repeating: 0, count: 61)
            ck_sum_to(2, [61, 16_393], x, [1, 0], 1, 0, &y)
            return y
        }
    }

    /// Rows compiled for a scalar operand (stride 0) give each element's term, bit for bit.
    func testRowsWithAScalarOperandAreTheElementTerms() {
        var rng = SeededGenerator(seed: 94)
        let n = 70_001
        let x = randomFloats(n, using: &rng), s: [Float] = [1.7]
        let sums: [Float] = x.map { $0 * 1.7 + $0 * 1.7 }
        for accumulate: Int32 in [0, 1] {
            var xs = accumulate == 0 ? [Float](repeating: sentinel, count: n) : x.map { $0 * 1.7 }
            ck_binary(CK_BINARY_MULTIPLY, 1, [Int64(n)], x, [1], s, [0], accumulate, &xs)
            var sx = accumulate == 0 ? [Float](repeating: sentinel, count: n) : x.map { 1.7 * $0 }
            ck_binary(CK_BINARY_MULTIPLY, 1, [Int64(n)], s, [0], x, [1], accumulate, &sx)
            let expected = accumulate == 0 ? x.map { $0 * 1.7 } : sums
            assertBitwiseEqual(xs, expected, "x * s, accumulate \(accumulate)")
            assertBitwiseEqual(sx, expected, "s * x, accumulate \(accumulate)")
        }
        var both = [Float](repeating: sentinel, count: n)
        ck_binary(CK_BINARY_DIVIDE, 1, [Int64(n)], s, [0], [Float(3)], [0], 0, &both)
        assertBitwiseEqual(both, [Float](repeating: 1.7 / 3, count: n), "s / t")
        var dx = [Float](repeating: sentinel, count: n)
        ck_binary_gradient(CK_BINARY_DIVIDE, 0, 1, [Int64(n)], x, nil, [1], s, [0], 0, &dx)
        assertBitwiseEqual(dx, x.map { $0 / 1.7 }, "d(x / s)/dx")
    }
}
