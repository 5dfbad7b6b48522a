// exp, log and pow of ck_unary_forward (vector_math.h, power.h) on awkward values (signed
// zeros, infinities, NaN, subnormals, the edges of overflow and underflow, large arguments)
// and on random samples, against Double references: within 1 ulp, with libm's special
// values.
import CKernels
import DeepLearning
import Foundation
import XCTest

final class ElementaryFunctionTests: XCTestCase {
    private let awkward: [Float] = [
        0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
        .leastNormalMagnitude, -.leastNormalMagnitude, Float.leastNormalMagnitude.nextDown,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1, -1, Float(1).nextUp,
        Float(1).nextDown, 2, -2, 0.5, -0.5, 3, 1e-8, -1e-8, 1e20, -1e20,
    ]

    private func forward(_ op: ck_unary_op, _ x: [Float], _ p: Float = 0) -> [Float] {
        var y = [Float](repeating: sentinel, count: x.count)
        ck_unary_forward(op, Int64(x.count), x, p, &y)
        return y
    }

    /// Random bit patterns (every sign, exponent and special value) and uniform values.
    private func sample(_ count: Int, in range: ClosedRange<Float>, using rng: inout SeededGenerator)
        -> [Float]
    {
        (0..<count / 2).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
            + randomFloats(count - count / 2, in: range, using: &rng)
    }

    /// Asserts that got[i] is within `ulps` of reference(x[i]) in units of the float result's
    /// last place (a zero with the reference's sign), infinite or NaN where the rounded
    /// reference is.
    private func assertWithinUlps(
        _ got: [Float], _ x: [Float], _ reference: (Double) -> Double, ulps: Double,
        _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        var failures = 0
        for (y, v) in zip(got, x) {
            let r = reference(Double(v)), rounded = Float(r)
            let ok: Bool
            if rounded.isNaN || rounded.isInfinite {
                ok = y.isNaN ? rounded.isNaN : y == rounded
            } else {
                let ulp = Double(sign: .plus, exponent: max(r.exponent, -126) - 23, significand: 1)
                ok = abs(Double(y) - r) <= ulps * ulp && (y != 0 || y.sign == r.sign)
            }
            if !ok {
                failures += 1
                if failures <= 5 {
                    XCTFail("\(what): x \(v) gave \(y), reference \(r)", file: file, line: line)
                }
            }
        }
    }

    func testExp() {
        var rng = SeededGenerator(seed: 71)
        let edges: [Float] = [
            0x1.62e42ep6, 0x1.62e430p6, -0x1.5d589ep6, -0x1.5d58a0p6, -0x1.9fe368p6,
            -0x1.9fe36ap6, -103.97, -104, -1000, 1000, 88, -87, 0x1p-30, -0x1p-30,
        ]
        let x = awkward + edges + sample(200_000, in: -104...89, using: &rng)
        assertWithinUlps(forward(CK_UNARY_EXP, x), x, { Foundation.exp($0) }, ulps: 0.77, "exp")
        // e^0 = 1 exactly, and e^x > 0 down to the least subnormal.
        XCTAssertEqual(forward(CK_UNARY_EXP, [0, -0]), [1, 1])
        XCTAssertEqual(forward(CK_UNARY_EXP, [-103.2])[0], .leastNonzeroMagnitude)
    }

    func testLog() {
        var rng = SeededGenerator(seed: 72)
        let x = awkward + sample(200_000, in: 0...100, using: &rng)
        assertWithinUlps(forward(CK_UNARY_LOG, x), x, { Foundation.log($0) }, ulps: 0.96, "log")
        let special = forward(CK_UNARY_LOG, [0, -0, -1, -.infinity, .infinity, 1])
        XCTAssertEqual(Array(special.prefix(2)), [-.infinity, -.infinity])
        XCTAssertTrue(special[2].isNaN && special[3].isNaN)
        XCTAssertEqual(Array(special.suffix(2)), [.infinity, 0])
    }

    /// Every exponent with a form of its own, and others, at the awkward values: powf's
    /// special values (signed zeros, infinities, NaN, +-1); and on random samples within 1 ulp.
    func testPow() {
        var rng = SeededGenerator(seed: 73)
        let exponents: [Float] = [
            0, -0, 1, 2, 3, -1, 0.5, -0.5, 2.5, -2.5, 4, -3, 5, -2, 0.1, 1.5, -1.5, 33.5, 100,
            101, 1e10, 16_777_218, -16_777_218, 8_388_609, -8_388_609, .infinity, -.infinity, .nan,
            6, 7, 8, 15, 16, -4, -5, -7, -8, -15, -16,
        ]
        for p in exponents {
            let x = awkward + sample(20_000, in: -4...4, using: &rng)
            let y = forward(CK_UNARY_POW, x, p)
            assertWithinUlps(y, x, { Foundation.pow($0, Double(p)) }, ulps: 0.51, "pow p \(p)")
            for (value, result) in zip(awkward, y) {
                let powf = Foundation.pow(value, p)
                guard powf.isNaN || powf.isInfinite || powf == 0 || abs(powf) == 1 else { continue }
                XCTAssertTrue(
                    result.isNaN ? powf.isNaN : result == powf && result.sign == powf.sign,
                    "pow(\(value), \(p)): \(result), powf \(powf)")
            }
        }
    }

    /// The integer powers in double (x^-2, x^-3, x^n and x^-n for n in [4, 15]) where x^n
    /// leaves float's range: |x| spread evenly in log scale from well inside float's range to
    /// where the power rounds to 0 or overflows, both signs, within half an ulp as everywhere
    /// (subnormal results in units of the least subnormal); products in float would give 0
    /// and inf there.
    func testIntegerPowersBeyondFloatsRange() {
        var rng = SeededGenerator(seed: 76)
        for p: Float in [-2, -3] + (4...15).flatMap({ [Float($0), -Float($0)] }) {
            let n = Double(abs(p))
            let magnitudes = randomFloats(20_000, in: Float(-170 / n)...Float(150 / n), using: &rng)
                .map { Float(Foundation.exp2(Double($0))) }
            let x = magnitudes + magnitudes.map { -$0 }
            assertWithinUlps(forward(CK_UNARY_POW, x, p), x, { Foundation.pow($0, Double(p)) },
                             ulps: 0.51, "pow p \(p)")
        }
    }

    /// x^-n for n in [2, 15] over every 16411th float (both signs, zeros, subnormals, both
    /// ends of float's range, infinities and NaN): inverse_power_fused (power.h) where
    /// inverse_power_in_range holds, within its bound of 0.50002 ulp, and the forms in double
    /// elsewhere, in blocks of both kinds and in blocks that mix them.
    func testInversePowersOverEveryKthFloat() {
        let x = stride(from: 0, through: UInt32.max, by: 16411).map { Float(bitPattern: $0) }
        for n in 2...15 {
            let p = -Float(n)
            assertWithinUlps(forward(CK_UNARY_POW, x, p), x, { Foundation.pow($0, Double(p)) },
                             ulps: 0.50002, "pow p \(p)")
        }
    }

    /// The gradient p x^(p-1) dy of each form (p - 1 with a form of its own or not), within
    /// 2 ulp of the exact product (the two products round once each), 3.5 ulp for p = -1,
    /// whose x^-2 is (1 / x)^2 in float (power.h's pow_for_gradient). |x| from 1/4 on for
    /// p - 1 from 8 on, whose x^(p-1) is subnormal below 2^(-126/(p-1)) (2^-8.4 at p = 16):
    /// its absolute rounding, times p, is more than 2 ulp of the gradient.
    func testPowGradient() {
        var rng = SeededGenerator(seed: 74)
        let exponents: [Float] = [
            2, 3, 4, 1.5, 0.5, -1, -2, 2.5, -0.5, 6, 1, -3, -4, 5, 9, 16, -14, 17, -5, -8,
        ]
        for p in exponents {
            let least: Float = p - 1 >= 8 ? 0.25 : 0
            let x = randomFloats(10_000, in: -4...4, using: &rng)
                .map { $0 < 0 ? min($0, -least) : max($0, least) }
            let dy = randomFloats(10_000, using: &rng)
            var dx = [Float](repeating: sentinel, count: x.count)
            ck_unary_backward(CK_UNARY_POW, Int64(x.count), x, nil, dy, p, 0, &dx)
            let reference = { (i: Double) -> Double in
                Double(dy[Int(i)]) * Double(p) * Foundation.pow(Double(x[Int(i)]), Double(p - 1))
            }
            assertWithinUlps(dx, (0..<x.count).map { Float($0) }, reference,
                             ulps: p == -1 ? 3.5 : 2, "pow gradient p \(p)")
        }
    }

    /// The gradients of x^-1 and x^(1/2), whose x^-2 and x^-1/2 are computed in float
    /// (pow_for_gradient): where x x leaves float's range, within 3.5 ulp of -x^-2 dy as in
    /// [-4, 4], subnormal or 0 from |x| = 2^63 on, infinite (whatever dy) where x^-2 is, below
    /// 2^-64; powf's special values (dy 1): +-0 and subnormal x give -inf and +inf, +-inf give
    /// -0 and +0, x^(1/2) of a negative x is NaN.
    func testPowGradientBeyondTheSquaresRangeAndAtSpecialValues() {
        var rng = SeededGenerator(seed: 77)
        let large = randomFloats(20_000, in: 0x1p60...0x1p80, using: &rng)
        let small = randomFloats(20_000, in: 0x1p-80...0x1p-60, using: &rng)
        let x = large + large.map { -$0 } + small + small.map { -$0 }
        let dy = randomFloats(x.count, in: -1...1, using: &rng)
        var dx = [Float](repeating: sentinel, count: x.count)
        ck_unary_backward(CK_UNARY_POW, Int64(x.count), x, nil, dy, -1, 0, &dx)
        assertWithinUlps(dx, (0..<x.count).map { Float($0) }, { i in
            let square = Foundation.pow(Double(x[Int(i)]), -2)
            return -Double(dy[Int(i)]) * (Float(square).isInfinite ? .infinity : square)
        }, ulps: 3.5, "pow gradient p -1")
        let special: [Float] = [0, -0.0, .infinity, -.infinity, .nan, -2]
        let expected: [(p: Float, x: [Float], dx: [Float])] = [
            (-1, special + [.leastNonzeroMagnitude, -.leastNonzeroMagnitude],
             [-.infinity, -.infinity, -0.0, -0.0, .nan, -0.25, -.infinity, -.infinity]),
            (0.5, special + [-.leastNonzeroMagnitude],
             [.infinity, .infinity, 0, 0, .nan, .nan, .nan]),
        ]
        for (p, special, exact) in expected {
            var dx = [Float](repeating: sentinel, count: special.count)
            ck_unary_backward(CK_UNARY_POW, Int64(special.count), special, nil,
                              [Float](repeating: 1, count: special.count), p, 0, &dx)
            for (v, (g, e)) in zip(special, zip(dx, exact)) {
                XCTAssertTrue(e.isNaN ? g.isNaN : g == e && g.sign == e.sign,
                              "pow gradient at x \(v), p \(p): \(g), exact \(e)")
            }
        }
    }

    /// The gradient's sign for integer exponents from 2^24 on, where p - 1 in Float rounds to
    /// the even p (or to -2^24 from -2^24 - 1): odd p - 1 gives x^(p-1) the sign of x. At
    /// x = -1, -0, -2 and -0.5 the exact gradient p x^(p-1) is ±p, ±0 or ±inf.
    func testPowGradientOfHugeIntegerExponents() {
        let x: [Float] = [-1, 1, -0.0, 0, -2, -0.5], dy = [Float](repeating: 1, count: 6)
        for p: Float in [16_777_218, -16_777_216, 3e7, -3e7, 16_777_216] {
            var dx = [Float](repeating: sentinel, count: x.count)
            ck_unary_backward(CK_UNARY_POW, Int64(x.count), x, nil, dy, p, 0, &dx)
            for (v, g) in zip(x, dx) {
                let exact = Float(Double(p) * Foundation.pow(Double(v), Double(p) - 1))
                XCTAssertTrue(g == exact && g.sign == exact.sign,
                              "pow gradient at x \(v), p \(p): \(g), exact \(exact)")
            }
        }
    }

    /// Forward and accumulated backward of exp, log and pow of each form on sizes that go
    /// parallel: the same bits on 1 and 2 threads.
    func testResultsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 75)
        let n = 100_003
        let x = randomFloats(n, in: -3...3, using: &rng), dy = randomFloats(n, using: &rng)
        let cases: [(ck_unary_op, Float)] = [(CK_UNARY_EXP, 0), (CK_UNARY_LOG, 0)]
            + [2, 3, 4, 0.5, -1, -2, -3, 2.5, 5, -0.5, 7, -4, -7].map { (CK_UNARY_POW, $0) }
        for (op, p) in cases {
            assertSameResultForThreadCounts([1, 2], "op \(op.rawValue) p \(p)") { () -> [Float] in
                var y = [Float](repeating: 0, count: n), dx = [Float](repeating: 1, count: n)
                ck_unary_forward(op, Int64(n), x, p, &y)
                ck_unary_backward(op, Int64(n), x, y, dy, p, 1, &dx)
                return y + dx
            }
        }
    }
}
