// The two exponentials of vector_math.h over dense grids of floats, against Double's exp:
// exp_full_range (ck_unary_forward's exp) within 0.77 ulp from the least subnormal result to
// overflow, and exp_nonpositive (read back from ck_log_softmax_backward) within 1.38 ulp on
// [-87.3, 0] and 0 below; the same bits on 1 and 2 threads.
import CKernels
import Foundation
import XCTest

final class ExponentialGridTests: XCTestCase {
    /// Every `step`-th float from `low` up to `high` (both of one sign), by bit pattern: as many
    /// in each binade, so the subnormal and tiny results are covered as densely as the others.
    private func grid(from low: Float, to high: Float, step: UInt32) -> [Float] {
        let (a, b) = (low.bitPattern, high.bitPattern)
        return stride(from: min(a, b), through: max(a, b), by: Int(step)).map {
            Float(bitPattern: $0)
        }
    }

    /// The largest error of got[i] against e^x[i] in units of the float result's last place.
    private func largestError(_ got: [Float], _ x: [Float]) -> (ulps: Double, at: Float) {
        var worst = (ulps: 0.0, at: Float.nan)
        for (y, v) in zip(got, x) {
            let r = Foundation.exp(Double(v))
            let ulp = Double(sign: .plus, exponent: max(r.exponent, -126) - 23, significand: 1)
            let error = Float(r).isInfinite && y.isInfinite ? 0 : abs(Double(y) - r) / ulp
            if !(error <= worst.ulps) { worst = (error, v) }
        }
        return worst
    }

    func testExpWithinItsBoundOverAGridOfFloats() {
        // About 600,000 floats of [-104, 89]: every 7919th below 0, every 1,543rd above.
        let x = grid(from: -104, to: -0.0, step: 7919) + grid(from: 0, to: 89, step: 1543)
        let y = assertSameResultForThreadCounts {
            var y = [Float](repeating: sentinel, count: x.count)
            ck_unary_forward(CK_UNARY_EXP, Int64(x.count), x, 0, &y)
            return y
        }
        let worst = largestError(y, x)
        XCTAssertLessThanOrEqual(worst.ulps, 0.77, "exp at \(worst.at)")
    }

    func testExpNonpositiveWithinItsBoundOverAGridOfFloats() {
        // ck_log_softmax_backward's dx = dy - e^y * (sum of dy) is -e^y exactly where dy is 0
        // in a row whose dy sums to 1: rows of 1024 whose first dy is 1, its dx not checked.
        let classes = 1024
        let values = grid(from: -87.3, to: -0.0, step: 1777)
        let rows = (values.count + classes - 2) / (classes - 1)
        var y = [Float](repeating: 0, count: rows * classes)
        var dy = [Float](repeating: 0, count: rows * classes)
        var checked: [Int] = []
        for (k, v) in values.enumerated() {
            let index = (k / (classes - 1)) * classes + 1 + k % (classes - 1)
            y[index] = v
            checked.append(index)
        }
        for row in 0..<rows { dy[row * classes] = 1 }
        let dx = assertSameResultForThreadCounts {
            var dx = [Float](repeating: sentinel, count: rows * classes)
            ck_log_softmax_backward(Int64(rows), Int64(classes), y, dy, 0, &dx)
            return dx
        }
        let worst = largestError(checked.map { -dx[$0] }, values)
        XCTAssertLessThanOrEqual(worst.ulps, 1.38, "exp_nonpositive at \(worst.at)")
        // Below -87.3, where 2^n leaves the normal range: 0.
        var below = [Float](repeating: sentinel, count: 4)
        ck_log_softmax_backward(1, 4, [0, -87.31, -100, -.infinity], [1, 0, 0, 0], 0, &below)
        XCTAssertEqual(below, [0, 0, 0, 0])
    }
}
