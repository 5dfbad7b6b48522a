// Sigmoid, tanh and softmax backward, and the hinge and squared-error losses, against plain
// Swift references in Double, on tiny sizes and on sizes that go parallel.
import CKernels
import DeepLearning
import XCTest

/// Calls a (count, in, out) kernel out of place.
private func unary(_ kernel: (Int64, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void,
                   _ x: [Float]) -> [Float] {
    var y = [Float](repeating: sentinel, count: x.count)
    x.withUnsafeBufferPointer { xs in
        y.withUnsafeMutableBufferPointer { kernel(Int64(x.count), xs.baseAddress, $0.baseAddress) }
    }
    return y
}

/// ck_activation_backward for f, in place (dx = dy), overwriting.
private func fromOutput(_ f: ck_activation, y: [Float], dy: [Float]) -> [Float] {
    var dx = dy
    y.withUnsafeBufferPointer { ys in
        dx.withUnsafeMutableBufferPointer {
            ck_activation_backward(f, Int64(y.count), ys.baseAddress, UnsafePointer($0.baseAddress),
                                   0, $0.baseAddress)
        }
    }
    return dx
}

/// exp_nonpositive's arithmetic (vector_math.h) for x in [-87.3, 0], each product and each sum
/// rounded on its own, as every instruction set computes it when nothing is fused.
private func expNonpositive(_ x: Float) -> Float {
    let log2e: Float = 1.44269504088896341, ln2Hi: Float = 0.693145751953125,
        ln2Lo: Float = 1.42860682030941723212e-6
    let n = (x * log2e).rounded(.toNearestOrEven)
    let r = (x - n * ln2Hi) - n * ln2Lo
    let coefficients: [Float] = [1, 1.00000004, 0.500000005, 0.166664155, 0.0416663529,
                                 0.0083751264, 0.00139411084]
    var p = coefficients.last!
    for c in coefficients.dropLast().reversed() { p = p * r + c }
    return p * Float(bitPattern: UInt32(Int(n) + 127) << 23)
}

final class ActivationTests: XCTestCase {
    private let sizes = [1, 7, 2000, 70_001]

    func testSigmoidAndTanhMatchReferences() {
        var rng = SeededGenerator(seed: 21)
        for n in sizes {
            let x = randomFloats(n, in: -12...12, using: &rng)
            let sigmoid = x.map { 1 / (1 + exp(-Double($0))) }
            assertClose(unary(ck_sigmoid_forward, x), sigmoid,
                        tolerance: sigmoid.map { 4 * Double(Float.ulpOfOne) * $0 }, "sigmoid n \(n)")
            let tanhs = x.map { tanh(Double($0)) }
            assertClose(unary(ck_tanh_forward, x), tanhs,
                        tolerance: tanhs.map { 2 * Double(Float.ulpOfOne) * abs($0) }, "tanh n \(n)")
            let y = randomFloats(n, in: -1...1, using: &rng), dy = randomFloats(n, using: &rng)
            assertClose(fromOutput(CK_ACTIVATION_SIGMOID, y: y, dy: dy),
                        zip(y, dy).map { Double($1) * Double($0) * (1 - Double($0)) },
                        tolerance: 1e-6, "sigmoid backward n \(n)")
            assertClose(fromOutput(CK_ACTIVATION_TANH, y: y, dy: dy),
                        zip(y, dy).map { Double($1) * (1 - Double($0) * Double($0)) },
                        tolerance: 1e-6, "tanh backward n \(n)")
        }
    }

    func testSigmoidAndTanhBackwardRoundEachProductAndSumOnItsOwn() {
        // No product fused with a sum: the bits of every instruction set (an AVX-512 build that
        // fused them would round once where the others round twice).
        var rng = SeededGenerator(seed: 27)
        let x = randomFloats(70_001, in: -20...20, using: &rng)
        assertBitwiseEqual(unary(ck_sigmoid_forward, x), x.map { x in
            let e = expNonpositive(-abs(x))
            return (x >= 0 ? 1 : e) / (1 + e)
        })
        let y = randomFloats(70_001, in: -1...1, using: &rng), dy = randomFloats(70_001, using: &rng)
        assertBitwiseEqual(fromOutput(CK_ACTIVATION_TANH, y: y, dy: dy),
                           zip(y, dy).map { y, dy in dy * (1 - y * y) })
    }

    func testSigmoidAndTanhAtExtremes() {
        // Below about -87.3 the sigmoid is under Float's normal range: it is flushed to 0.
        let x: [Float] = [-1e4, -100, -88, 0, 1e-30, 88, 100, 1e4, .infinity, -.infinity]
        assertEqualValues(unary(ck_sigmoid_forward, x), [0, 0, 0, 0.5, 0.5, 1, 1, 1, 1, 0])
        assertEqualValues(unary(ck_tanh_forward, x), [-1, -1, -1, 0, 1e-30, 1, 1, 1, 1, -1])
        XCTAssertTrue(unary(ck_sigmoid_forward, [.nan])[0].isNaN)
    }

    func testLargeActivationsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 22)
        let x = randomFloats(70_001, in: -5...5, using: &rng)
        assertSameResultForThreadCounts { unary(ck_sigmoid_forward, x) }
        assertSameResultForThreadCounts { unary(ck_tanh_forward, x) }
    }

    func testSoftmaxBackwardMatchesReference() {
        var rng = SeededGenerator(seed: 23)
        for (rows, classes) in [(1, 1), (3, 5), (400, 100)] {
            let logits = randomFloats(rows * classes, in: -3...3, using: &rng)
            let y = unary({ n, x, out in ck_softmax(Int64(rows), n / Int64(rows), x, out) }, logits)
            let dy = randomFloats(rows * classes, using: &rng)
            var expected = [Double](repeating: 0, count: rows * classes)
            for i in 0..<rows {
                let row = (i * classes)..<((i + 1) * classes)
                let dot = row.reduce(0.0) { $0 + Double(dy[$1]) * Double(y[$1]) }
                for j in row { expected[j] = Double(y[j]) * (Double(dy[j]) - dot) }
            }
            var dx = dy
            y.withUnsafeBufferPointer { ys in
                dx.withUnsafeMutableBufferPointer {
                    ck_softmax_backward(Int64(rows), Int64(classes), ys.baseAddress,
                                        UnsafePointer($0.baseAddress), 0, $0.baseAddress)
                }
            }
            assertClose(dx, expected, tolerance: 1e-6, "softmax backward \(rows)x\(classes)")
        }
    }
}

final class HingeAndSquaredErrorTests: XCTestCase {
    /// ck_multi_margin's loss and gradient; nil when it reports a bad label.
    private func multiMargin(_ x: [Float], _ labels: [Int32], classes: Int,
                             dx: inout [Float]) -> Float? {
        var loss: Float = sentinel
        let status = x.withUnsafeBufferPointer { xs in
            labels.withUnsafeBufferPointer { ls in
                dx.withUnsafeMutableBufferPointer {
                    ck_multi_margin(Int64(labels.count), Int64(classes), xs.baseAddress, ls.baseAddress,
                                    $0.baseAddress, &loss)
                }
            }
        }
        return status == 0 ? loss : nil
    }

    func testMultiMarginMatchesReference() {
        var rng = SeededGenerator(seed: 24)
        for (rows, classes) in [(1, 1), (5, 4), (300, 200)] {
            let x = randomFloats(rows * classes, in: -1...1, using: &rng)
            let labels = (0..<rows).map { _ in Int32(Int(rng.next() % UInt64(classes))) }
            var loss = 0.0
            var gradient = [Double](repeating: 0, count: rows * classes)
            let step = 1 / Double(rows * classes)
            for i in 0..<rows {
                let label = i * classes + Int(labels[i])
                for j in (i * classes)..<((i + 1) * classes) where j != label {
                    let margin = 1 - Double(x[label]) + Double(x[j])
                    if margin > 0 { loss += margin * step; gradient[j] += step; gradient[label] -= step }
                }
            }
            var dx = [Float](repeating: sentinel, count: x.count)
            let got = multiMargin(x, labels, classes: classes, dx: &dx)
            XCTAssertEqual(Double(got ?? .nan), loss, accuracy: 1e-5 * max(1, loss), "\(rows)x\(classes)")
            assertClose(dx, gradient, tolerance: 1e-7, "hinge gradient \(rows)x\(classes)")
            if rows * classes > 32768 {
                assertSameResultForThreadCounts {
                    var dx = [Float](repeating: 0, count: x.count)
                    return [multiMargin(x, labels, classes: classes, dx: &dx) ?? .nan] + dx
                }
            }
        }
    }

    func testMultiMarginRejectsALabelOutsideTheClassesAndWritesNothing() {
        for bad: Int32 in [-1, 3] {
            var dx = [Float](repeating: sentinel, count: 6)
            XCTAssertNil(multiMargin([0, 1, 2, 3, 4, 5], [0, bad], classes: 3, dx: &dx))
            assertBitwiseEqual(dx, [Float](repeating: sentinel, count: 6))
        }
    }

    func testMeanSquaredErrorMatchesReference() {
        var rng = SeededGenerator(seed: 25)
        for n in [1, 7, 70_001] {
            let p = randomFloats(n, using: &rng), t = randomFloats(n, using: &rng)
            let errors = zip(p, t).map { Double($0) - Double($1) }
            func run(_ withGradient: Bool) -> (Float, [Float]) {
                var loss: Float = sentinel
                var dp = [Float](repeating: sentinel, count: n)
                p.withUnsafeBufferPointer { ps in
                    t.withUnsafeBufferPointer { ts in
                        dp.withUnsafeMutableBufferPointer {
                            ck_mean_squared_error(Int64(n), ps.baseAddress, ts.baseAddress,
                                                  withGradient ? $0.baseAddress : nil, &loss)
                        }
                    }
                }
                return (loss, dp)
            }
            let (loss, dp) = run(true)
            XCTAssertEqual(Double(loss), errors.reduce(0) { $0 + $1 * $1 } / Double(n), accuracy: 1e-6)
            assertClose(dp, errors.map { 2 * $0 / Double(n) }, tolerance: 1e-7, "mse gradient n \(n)")
            let (lossOnly, untouched) = run(false)
            XCTAssertEqual(lossOnly, loss)
            assertBitwiseEqual(untouched, [Float](repeating: sentinel, count: n))
            if n > 32768 { assertSameResultForThreadCounts { [run(true).0] + run(true).1 } }
        }
    }
}

final class DropoutKernelTests: XCTestCase {
    private func dropout(_ kernel: (Int64, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?, Float, UInt64) -> Void,
                         _ x: [Float], p: Float, seed: UInt64) -> [Float] {
        var y = [Float](repeating: sentinel, count: x.count)
        x.withUnsafeBufferPointer { xs in
            y.withUnsafeMutableBufferPointer { kernel(Int64(x.count), xs.baseAddress, $0.baseAddress, p, seed) }
        }
        return y
    }

    func testDropoutKeepsScaledValuesWithTheRightFrequencyAndBackwardUsesTheSameMask() {
        var rng = SeededGenerator(seed: 26)
        let n = 70_001, p: Float = 0.3
        let x = randomFloats(n, in: 0.5...1, using: &rng) // no zeros: a 0 output means dropped
        let y = dropout(ck_dropout_forward, x, p: p, seed: 42)
        let scale: Float = 1 / (1 - p)
        let kept = (0..<n).filter { y[$0] != 0 }
        XCTAssertEqual(Double(n - kept.count) / Double(n), Double(p), accuracy: 0.01)
        XCTAssertTrue(kept.allSatisfy { y[$0] == x[$0] * scale }, "kept values scaled by 1/(1-p)")
        let dy = randomFloats(n, in: 0.5...1, using: &rng)
        let dx = dropout({ ck_dropout_backward($0, $1, $2, $3, $4) }, dy, p: p, seed: 42)
        XCTAssertTrue((0..<n).allSatisfy { (dx[$0] == 0) == (y[$0] == 0) }, "same mask")
        XCTAssertTrue(kept.allSatisfy { dx[$0] == dy[$0] * scale })
        XCTAssertNotEqual(dropout(ck_dropout_forward, x, p: p, seed: 43), y, "another seed, another mask")
        assertSameResultForThreadCounts { dropout(ck_dropout_forward, x, p: p, seed: 42) }
        assertBitwiseEqual(dropout(ck_dropout_forward, x, p: 0, seed: 42), x)
    }

    /// Element i is dropped where u_i < p, u_i the top 24 bits of SplitMix64's finalizer of
    /// seed + (i + 1) · 0x9E3779B97F4A7C15 as a fraction of 2^24 (the kernel's mask written
    /// out): the same mask whichever instruction set's clone runs, on sizes around a vector.
    func testTheMaskIsSplitMixOfTheSeedAndTheIndex() {
        let seed: UInt64 = 0xDEAD_BEEF, p: Float = 0.5
        for n in [1, 7, 15, 16, 17, 33, 70_001] {
            let y = dropout(ck_dropout_forward, [Float](repeating: 1, count: n), p: p, seed: seed)
            for i in 0..<n {
                var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let expected: Float = Float(z >> 40) * 0x1p-24 < p ? 0 : 2
                guard y[i] == expected else {
                    return XCTFail("n \(n), element \(i): \(y[i]), expected \(expected)")
                }
            }
        }
    }
}
