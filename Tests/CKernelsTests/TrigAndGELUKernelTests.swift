// tanh (the kernel of the Tanh layer and of the graph's tanh; float arithmetic, vector_tanh.h)
// within 0.77 ulp, and sin, cos and GELU, computed in double and rounded once to float
// (vector_sincos.h, vector_gelu.h) within 0.51 ulp, of Double references: special values as
// libm's, random floats of every magnitude, and sin and cos beyond 2^24 from libm.
import CKernels
import DeepLearning
import Foundation
import XCTest

/// One ulp of Float in the binade of `value` (the subnormal spacing below the normal range).
private func floatUlp(of value: Double) -> Double {
    let a = value.magnitude
    let exponent = a < Double(Float.leastNormalMagnitude) ? -126 : Int(a.exponent)
    return Double(sign: .plus, exponent: exponent - 23, significand: 1)
}

/// `count` floats whose magnitudes are random bit patterns between those of `low` and `high`
/// (so every binade in between is as likely), each of either sign.
private func floatsOfEveryMagnitude(
    _ count: Int, from low: Float, to high: Float, using rng: inout SeededGenerator
) -> [Float] {
    let (first, span) = (UInt64(low.bitPattern), UInt64(high.bitPattern - low.bitPattern) + 1)
    return (0..<count).map { _ in
        let bits = rng.next()
        let magnitude = Float(bitPattern: UInt32(first + (bits >> 1) % span))
        return bits & 1 == 0 ? magnitude : -magnitude
    }
}

private func forward(_ op: ck_unary_op, _ x: [Float]) -> [Float] {
    var y = [Float](repeating: sentinel, count: x.count)
    ck_unary_forward(op, Int64(x.count), x, 0, &y)
    return y
}

private func backward(_ op: ck_unary_op, _ x: [Float], _ dy: [Float]) -> [Float] {
    var dx = [Float](repeating: sentinel, count: x.count)
    ck_unary_backward(op, Int64(x.count), x, nil, dy, 0, 0, &dx)
    return dx
}

/// dx + dy f'(x), accumulated by the kernel.
private func backward(_ op: ck_unary_op, _ x: [Float], _ dy: [Float], adding dx: [Float]) -> [Float] {
    var sum = dx
    ck_unary_backward(op, Int64(x.count), x, nil, dy, 0, 1, &sum)
    return sum
}

private func tanhKernel(_ x: [Float]) -> [Float] {
    var y = [Float](repeating: sentinel, count: x.count)
    ck_tanh_forward(Int64(x.count), x, &y)
    return y
}

/// The standard normal distribution Phi and density phi.
private func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
private func normalDensity(_ x: Double) -> Double {
    Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot()
}

final class TrigAndGELUKernelTests: XCTestCase {
    private func assertWithinUlps(
        _ got: [Float], _ expected: [Double], _ ulps: Double, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertClose(got, expected, tolerance: expected.map { ulps * floatUlp(of: $0) }, what,
                    file: file, line: line)
    }

    /// Signed zeros, subnormals, infinities, NaN, and the edge of the results 1 - 2^-24 and 1:
    /// 0x1.205968p3 (9.0109134) is the least float whose tanh rounds to 1.
    func testTanhSpecialValues() {
        let x: [Float] = [0, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude,
                          -.leastNonzeroMagnitude, .leastNormalMagnitude, 1e-30, 8.5, 9,
                          0x1.205966p3, 9.1, 10, .greatestFiniteMagnitude,
                          -.greatestFiniteMagnitude, -0x1.205968p3, 0x1.205968p3]
        let expected = x.map { $0.isInfinite ? ($0 > 0 ? 1 : -1) : Float(tanh(Double($0))) }
        assertBitwiseEqual(tanhKernel(x), expected, "tanh")
        XCTAssertEqual(expected[1].sign, .minus)
        XCTAssertEqual(Array(tanhKernel(x)[10...]),
                       [1 - 0x1p-24, 1, 1, 1, -1, -1, 1])
        XCTAssertTrue(tanhKernel([.nan])[0].isNaN)
    }

    func testTanhWithinItsUlps() {
        var rng = SeededGenerator(seed: 71)
        let x = floatsOfEveryMagnitude(200_000, from: 0x1p-140, to: 12, using: &rng)
        assertWithinUlps(tanhKernel(x), x.map { tanh(Double($0)) }, 0.77, "tanh")
    }

    /// Every float around the kernel's seams: the switch from the odd polynomial to the
    /// exponential form at 0.55 (beside the binade edge tanh = 1/2 at 0.5493), the clamp at
    /// 8.49 and the switch to 1 at 9.0109134.
    func testTanhWithinItsUlpsAroundItsSeams() {
        for (low, high) in [(Float(0.54), Float(0.56)), (8.48, 8.50), (9.005, 9.015)] {
            let x = (low.bitPattern...high.bitPattern).map { Float(bitPattern: $0) }
            assertWithinUlps(tanhKernel(x), x.map { tanh(Double($0)) }, 0.77, "tanh \(low)")
            assertBitwiseEqual(tanhKernel(x.map { -$0 }), tanhKernel(x).map { -$0 }, "odd")
        }
    }

    func testSineAndCosineSpecialValues() {
        let x: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, 0x1p-100]
        assertBitwiseEqual(forward(CK_UNARY_SIN, x), x, "sin")
        assertBitwiseEqual(forward(CK_UNARY_COS, x), [Float](repeating: 1, count: x.count), "cos")
        for op in [CK_UNARY_SIN, CK_UNARY_COS] {
            let y = forward(op, [.infinity, -.infinity, .nan])
            XCTAssertTrue(y.allSatisfy(\.isNaN), "op \(op.rawValue): \(y)")
        }
    }

    func testSineAndCosineWithinHalfAnUlp() {
        var rng = SeededGenerator(seed: 72)
        // Up to 2^24, the largest argument reduced in double arithmetic (libm's sinf and cosf,
        // used beyond, are within 0.57 ulp).
        let x = floatsOfEveryMagnitude(200_000, from: 0x1p-140, to: 0x1p24, using: &rng)
        let sines = x.map { Foundation.sin(Double($0)) }
        let cosines = x.map { Foundation.cos(Double($0)) }
        assertWithinUlps(forward(CK_UNARY_SIN, x), sines, 0.51, "sin")
        assertWithinUlps(forward(CK_UNARY_COS, x), cosines, 0.51, "cos")
    }

    /// Beyond 2^24 the values are libm's, and a large argument changes nothing in the results
    /// of the others beside it.
    func testSineAndCosineOfLargeArgumentsAreLibms() {
        var rng = SeededGenerator(seed: 73)
        let large: [Float] = [Float(0x1p24).nextUp, -3e9, 1e30, -.greatestFiniteMagnitude]
        assertBitwiseEqual(forward(CK_UNARY_SIN, large), large.map { Foundation.sin($0) }, "sin")
        assertBitwiseEqual(forward(CK_UNARY_COS, large), large.map { Foundation.cos($0) }, "cos")
        let x = randomFloats(1000, in: -100...100, using: &rng)
        var mixed = x
        for (i, value) in zip([3, 300, 301, 999], large) { mixed[i] = value }
        for op in [CK_UNARY_SIN, CK_UNARY_COS] {
            let alone = forward(op, x), beside = forward(op, mixed)
            let kept = (0..<x.count).filter { ![3, 300, 301, 999].contains($0) }
            assertBitwiseEqual(kept.map { beside[$0] }, kept.map { alone[$0] }, "op \(op.rawValue)")
        }
    }

    /// sin' = cos and cos' = -sin, bit for bit: dy times the other function's forward value.
    func testSineAndCosineGradientsAreTheOtherFunctionTimesDy() {
        var rng = SeededGenerator(seed: 74)
        let x = floatsOfEveryMagnitude(10_000, from: 0x1p-30, to: 0x1p26, using: &rng)
        let dy = randomFloats(x.count, in: -2...2, using: &rng)
        let sines = forward(CK_UNARY_SIN, x), cosines = forward(CK_UNARY_COS, x)
        assertBitwiseEqual(backward(CK_UNARY_SIN, x, dy), zip(dy, cosines).map { $0 * $1 }, "sin'")
        assertBitwiseEqual(backward(CK_UNARY_COS, x, dy), zip(dy, sines).map { -$0 * $1 }, "cos'")
    }

    func testGELUSpecialValues() {
        let x: [Float] = [0, -0.0, .infinity, 6, 100, .greatestFiniteMagnitude, -20, -1e30,
                          -.greatestFiniteMagnitude, 0x1p-100]
        let expected: [Float] = [0, -0.0, .infinity, 6, 100, .greatestFiniteMagnitude, -0.0, -0.0,
                                 -0.0, 0x1p-101]
        assertBitwiseEqual(forward(CK_UNARY_GELU, x), expected, "gelu")
        XCTAssertTrue(forward(CK_UNARY_GELU, [-.infinity, .nan]).allSatisfy(\.isNaN))
        // The gradient: 1/2 at 0, 1 far above, 0 far below, NaN at the infinities (inf * 0).
        let slopes = backward(CK_UNARY_GELU, [0, 100, -100, .infinity, -.infinity, .nan],
                              [1, 1, 1, 1, 1, 1])
        assertEqualValues(slopes, [0.5, 1, 0, .nan, .nan, .nan], "gelu'")
    }

    func testGELUWithinHalfAnUlp() {
        var rng = SeededGenerator(seed: 75)
        // Down to -14.5, where x Phi(x) leaves the subnormal range, and beyond.
        let x = floatsOfEveryMagnitude(200_000, from: 0x1p-149, to: 20, using: &rng)
        let expected = x.map { Double($0) * normalCDF(Double($0)) }
        assertWithinUlps(forward(CK_UNARY_GELU, x), expected, 0.51, "gelu")
    }

    /// In the central range |x| <= 3.25 (uniformly and in every binade), the bounds that
    /// vector_gelu.h documents, tighter than the 0.51 ulp above: GELU within 0.504 ulp, its
    /// derivative within 0.501 ulp for x >= 0 (0.5014 over all floats, hence 0.5015 here).
    func testGELUWithinItsDocumentedBoundsInTheCentralRange() {
        var rng = SeededGenerator(seed: 79)
        let x = randomFloats(200_000, in: -3.25...3.25, using: &rng)
            + floatsOfEveryMagnitude(100_000, from: 0x1p-149, to: 3.25, using: &rng)
        let expected = x.map { Double($0) * normalCDF(Double($0)) }
        assertWithinUlps(forward(CK_UNARY_GELU, x), expected, 0.504, "gelu")
        let positive = x.map(\.magnitude)
        let slopes = positive.map {
            normalCDF(Double($0)) + Double($0) * normalDensity(Double($0))
        }
        let ones = [Float](repeating: 1, count: x.count)
        assertWithinUlps(backward(CK_UNARY_GELU, positive, ones), slopes, 0.5015, "gelu'")
    }

    /// On both sides of |x| = 3.25, where the central rational forms give way to the wide ones:
    /// the same accuracy.
    func testGELUAtTheEdgeOfTheCentralRange() {
        var x: [Float] = []
        for edge: Float in [3.25, -3.25] {
            var below = edge, above = edge
            for _ in 0..<50 {
                x += [below, above]
                below = below.nextDown
                above = above.nextUp
            }
        }
        let expected = x.map { Double($0) * normalCDF(Double($0)) }
        assertWithinUlps(forward(CK_UNARY_GELU, x), expected, 0.51, "gelu")
        let slopes = x.map { normalCDF(Double($0)) + Double($0) * normalDensity(Double($0)) }
        let ones = [Float](repeating: 1, count: x.count)
        assertWithinUlps(backward(CK_UNARY_GELU, x, ones), slopes, 0.51, "gelu'")
    }

    /// Elements beyond the central range, inf and NaN change nothing in the results of the
    /// others beside them, and accumulating adds the gradient to dx in float.
    func testGELUOfAnElementDoesNotDependOnItsNeighbours() {
        var rng = SeededGenerator(seed: 77)
        let x = randomFloats(1000, in: -3...3, using: &rng)
        let dy = randomFloats(x.count, in: -2...2, using: &rng)
        let dx = randomFloats(x.count, in: -2...2, using: &rng)
        let wide: [Int: Float] = [0: 5, 64: -7, 65: .infinity, 500: .nan, 999: -3.5]
        var mixed = x
        for (i, value) in wide { mixed[i] = value }
        let kept = (0..<x.count).filter { wide[$0] == nil }
        let slopes = backward(CK_UNARY_GELU, x, dy)
        for (alone, beside, what) in [
            (forward(CK_UNARY_GELU, x), forward(CK_UNARY_GELU, mixed), "gelu"),
            (slopes, backward(CK_UNARY_GELU, mixed, dy), "gelu'"),
            (zip(dx, slopes).map { $0 + $1 }, backward(CK_UNARY_GELU, mixed, dy, adding: dx),
             "gelu' accumulated"),
        ] {
            assertBitwiseEqual(kept.map { beside[$0] }, kept.map { alone[$0] }, what)
        }
    }

    /// With many elements beyond the fast forms (GELU's central range, sine's 2^24), more than
    /// the kernel's list of them holds at once, each element's result is the one it has alone,
    /// also in place (y over x, dx over dy, and accumulating) and from odd offsets.
    func testManySlowElementsInPlace() {
        var rng = SeededGenerator(seed: 78)
        let n = 5000
        let central = randomFloats(n, in: -3...3, using: &rng)
        let slow: [Float] = [5, -7, .infinity, -.infinity, .nan, 0x1p25, -3e9, 1e30, -3.5, 40]
        let x = (0..<n).map { $0 % 3 == 1 || $0 % 64 == 63 ? slow[$0 % slow.count] : central[$0] }
        let dy = randomFloats(n, in: -2...2, using: &rng)
        let dx = randomFloats(n, in: -2...2, using: &rng)
        for op in [CK_UNARY_GELU, CK_UNARY_SIN, CK_UNARY_COS] {
            let what = "op \(op.rawValue)"
            let alone = x.map { forward(op, [$0])[0] }
            let slopes = zip(x, dy).map { backward(op, [$0], [$1])[0] }
            assertBitwiseEqual(forward(op, x), alone, what)
            for offset in [1, 37] {
                let xs = Array(x[offset...])
                var y = xs, g = Array(dy[offset...])
                y.withUnsafeMutableBufferPointer {
                    ck_unary_forward(op, Int64($0.count), $0.baseAddress, 0, $0.baseAddress)
                }
                g.withUnsafeMutableBufferPointer {
                    ck_unary_backward(op, Int64($0.count), xs, nil, $0.baseAddress, 0, 0,
                                      $0.baseAddress)
                }
                assertBitwiseEqual(y, Array(alone[offset...]), "\(what) in place from \(offset)")
                assertBitwiseEqual(g, Array(slopes[offset...]), "\(what)' in place from \(offset)")
            }
            let sums = zip(dx, slopes).map { $0 + $1 }
            assertBitwiseEqual(backward(op, x, dy, adding: dx), sums, "\(what)' accumulated")
        }
    }

    /// dy (Phi(x) + x phi(x)) rounded once: within half an ulp plus 2^-30 of the magnitude of
    /// its terms (the sum vanishes near x = -0.75).
    func testGELUGradientIsAccurate() {
        var rng = SeededGenerator(seed: 76)
        let x = floatsOfEveryMagnitude(100_000, from: 0x1p-149, to: 20, using: &rng)
        let dy = randomFloats(x.count, in: -2...2, using: &rng)
        let expected = zip(x, dy).map { x, dy in
            (normalCDF(Double(x)) + Double(x) * normalDensity(Double(x))) * Double(dy)
        }
        let tolerance = zip(zip(x, dy), expected).map { pair, value in
            let (x, dy) = (Double(pair.0), Double(pair.1).magnitude)
            let terms = normalCDF(x) + x.magnitude * normalDensity(x)
            return 0.51 * floatUlp(of: value) + 0x1p-30 * dy * terms
        }
        assertClose(backward(CK_UNARY_GELU, x, dy), expected, tolerance: tolerance, "gelu'")
    }
}
