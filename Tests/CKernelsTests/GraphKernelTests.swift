// The other kernels of the graph (unary functions, scaled add and fill, sums and maxima,
// transposes, block copies, scatter-add, batched GEMM, log-softmax, binary cross-entropy)
// against plain Swift references in Double, on tiny and awkward sizes and on sizes that go
// parallel, bitwise on 1 and 2 threads.
import CKernels
import DeepLearning
import Foundation
import XCTest

private let eps = Double(Float.ulpOfOne)

final class GraphKernelTests: XCTestCase {
    private let sizes = [1, 7, 33, 70_001]

    func testUnaryFunctionsAndTheirGradients() {
        var rng = SeededGenerator(seed: 41)
        typealias Reference = (value: (Double) -> Double, derivative: (Double) -> Double)
        let normal = { (x: Double) in Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
        let cdf = { (x: Double) in 0.5 * (1 + erf(x / 2.0.squareRoot())) }
        let cases: [(ck_unary_op, ClosedRange<Float>, Float, Reference)] = [
            (CK_UNARY_NEGATE, -3...3, 0, ({ -$0 }, { _ in -1 })),
            (CK_UNARY_EXP, -5...5, 0, ({ Foundation.exp($0) }, { Foundation.exp($0) })),
            (CK_UNARY_LOG, 0.01...50, 0, ({ Foundation.log($0) }, { 1 / $0 })),
            (CK_UNARY_SQRT, 0.01...50, 0, ({ $0.squareRoot() }, { 0.5 / $0.squareRoot() })),
            (CK_UNARY_POW, 0.1...3, 2.5, ({ Foundation.pow($0, 2.5) }, { 2.5 * Foundation.pow($0, 1.5) })),
            (CK_UNARY_POW, -3...3, 0, ({ _ in 1 }, { _ in 0 })),
            (CK_UNARY_ABS, -3...3, 0, ({ Swift.abs($0) }, { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 })),
            (CK_UNARY_SIN, -6...6, 0, ({ Foundation.sin($0) }, { Foundation.cos($0) })),
            (CK_UNARY_COS, -6...6, 0, ({ Foundation.cos($0) }, { -Foundation.sin($0) })),
            (CK_UNARY_GELU, -6...6, 0, ({ $0 * cdf($0) }, { cdf($0) + $0 * normal($0) })),
        ]
        for (op, range, p, reference) in cases {
            for n in sizes {
                let x = randomFloats(n, in: range, using: &rng), dy = randomFloats(n, using: &rng)
                var y = [Float](repeating: sentinel, count: n)
                ck_unary_forward(op, Int64(n), x, p, &y)
                let expected = x.map { reference.value(Double($0)) }
                assertClose(y, expected, tolerance: expected.map { 8 * eps * (Swift.abs($0) + 1) },
                            "forward \(op.rawValue) n \(n)")
                let gradient = zip(x, dy).map { reference.derivative(Double($0)) * Double($1) }
                var dx = [Float](repeating: sentinel, count: n)
                ck_unary_backward(op, Int64(n), x, y, dy, p, 0, &dx)
                let tolerance = gradient.map { 16 * eps * (Swift.abs($0) + 1) }
                assertClose(dx, gradient, tolerance: tolerance, "backward \(op.rawValue) n \(n)")
                var accumulated = [Float](repeating: 1, count: n)
                ck_unary_backward(op, Int64(n), x, y, dy, p, 1, &accumulated)
                assertClose(accumulated, gradient.map { $0 + 1 }, tolerance: tolerance,
                            "accumulated backward \(op.rawValue) n \(n)")
            }
        }
        // abs: gradient 0 at 0 and NaN at NaN.
        var dx: [Float] = [7, 7]
        ck_unary_backward(CK_UNARY_ABS, 2, [0, .nan], nil, [1, 1], 0, 0, &dx)
        XCTAssertEqual(dx[0], 0)
        XCTAssertTrue(dx[1].isNaN)
    }

    /// The gradients written in plain arithmetic (their loops vectorized for each instruction
    /// set) give the bits of the same Float expressions evaluated one element at a time, with
    /// and without accumulation, zeros, infinities and NaN among the inputs.
    func testArithmeticGradientsAreTheScalarExpressionsBitwise() {
        var rng = SeededGenerator(seed: 49)
        let special: [Float] = [0, -0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude]
        let cases: [(ck_unary_op, ClosedRange<Float>, (Float, Float) -> Float)] = [
            (CK_UNARY_NEGATE, -3...3, { _, dy in -dy }),
            (CK_UNARY_EXP, 0...5, { y, dy in dy * y }),
            (CK_UNARY_LOG, 0.01...50, { x, dy in dy / x }),
            (CK_UNARY_SQRT, 0.01...50, { y, dy in dy * 0.5 / y }),
            (CK_UNARY_ABS, -3...3, { x, dy in x > 0 ? dy : x < 0 ? -dy : x == 0 ? 0 : x }),
        ]
        for (op, range, gradient) in cases {
            for n in [1, 7, 33, 70_001] {
                // v: the input for the gradients read from x, the output for those read from y.
                let v = Array(special.prefix(n))
                    + randomFloats(max(n - special.count, 0), in: range, using: &rng)
                let dy = randomFloats(n, using: &rng), start = randomFloats(n, using: &rng)
                let expected = zip(v, dy).map { gradient($0, $1) }
                for accumulate: Int32 in [0, 1] {
                    let what = "op \(op.rawValue) n \(n) accumulate \(accumulate)"
                    let dx = assertSameResultForThreadCounts([1, 2], what) { () -> [Float] in
                        var dx = start
                        ck_unary_backward(op, Int64(n), v, v, dy, 0, accumulate, &dx)
                        return dx
                    }
                    let sums = zip(start, expected).map { $0 + $1 }
                    assertBitwiseEqual(dx, accumulate == 1 ? sums : expected, what)
                }
            }
        }
    }

    /// The element-wise kernels, the sums and the copies on sizes that go parallel: the same
    /// bits on 1 and 2 threads.
    func testResultsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 48)
        let n = 100_003
        let x = randomFloats(n, in: 0.1...2, using: &rng), dy = randomFloats(n, using: &rng)
        for op in [CK_UNARY_EXP, CK_UNARY_LOG, CK_UNARY_POW, CK_UNARY_SIN, CK_UNARY_GELU] {
            assertSameResultForThreadCounts([1, 2], "op \(op.rawValue)") { () -> [Float] in
                var y = [Float](repeating: 0, count: n), dx = [Float](repeating: 1, count: n)
                ck_unary_forward(op, Int64(n), x, 1.5, &y)
                ck_unary_backward(op, Int64(n), x, y, dy, 1.5, 1, &dx)
                return y + dx
            }
        }
        assertSameResultForThreadCounts { () -> [Float] in
            var y = dy, filled = [Float](repeating: 0, count: n)
            ck_scaled_add(Int64(n), 0.3, x, 1, &y)
            ck_fill(Int64(n), 2, &filled)
            var summed = [Float](repeating: 0, count: 400)
            ck_sum_to(2, [250, 400], x, [0, 1], 1, 0, &summed)
            var copied = [Float](repeating: 0, count: n)
            ck_copy_block(1000, 100, x, 100, 0, &copied, 100)
            var ties: Int64 = 0
            let maximum = ck_max(Int64(n), x, &ties)
            var dmax = [Float](repeating: 0, count: n)
            ck_max_backward(Int64(n), x, maximum, 1, 0, &dmax)
            return y + filled + summed + copied + [ck_sum(Int64(n), x), ck_mean(Int64(n), x)] + dmax
        }
    }

    /// The double sum of squares, not rounded to float, has the same bits on 1 and 2 threads.
    func testSumOfSquaresIsIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 49)
        let x = randomFloats(100_003, using: &rng)
        assertSameResultForThreadCounts { [ck_sum_of_squares(Int64(x.count), x)] }
    }

    func testScaledAddAndFill() {
        var rng = SeededGenerator(seed: 42)
        for n in sizes {
            let x = randomFloats(n, using: &rng), y0 = randomFloats(n, using: &rng)
            var y = y0
            ck_scaled_add(Int64(n), -0.5, x, 1, &y)
            assertBitwiseEqual(y, zip(x, y0).map { $1 + -0.5 * $0 }, "accumulate n \(n)")
            // 0.3 * x rounds: the product is rounded on its own, as on every instruction set
            // (an AVX-512 clone that fused it into the sum would round once).
            var z = y0
            ck_scaled_add(Int64(n), 0.3, x, 1, &z)
            assertBitwiseEqual(z, zip(x, y0).map { $1 + 0.3 * $0 }, "accumulate 0.3 n \(n)")
            ck_scaled_add(Int64(n), 1, x, 0, &y)
            assertBitwiseEqual(y, x, "copy n \(n)")
            ck_fill(Int64(n), 3, &y)
            assertBitwiseEqual(y, [Float](repeating: 3, count: n), "fill n \(n)")
        }
    }

    func testSumAndMaxima() {
        var rng = SeededGenerator(seed: 43)
        for n in sizes {
            let x = randomFloats(n, using: &rng)
            let sum = ck_sum(Int64(n), x)
            XCTAssertEqual(Double(sum), x.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-6 * Double(n))
            let mean = x.reduce(0.0) { $0 + Double($1) } / Double(n)
            XCTAssertEqual(Double(ck_mean(Int64(n), x)), mean, accuracy: Double(Float(mean).ulp),
                           "ck_mean of \(n)")
            let squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            // Within sum_lanes.h's bound for a double sum: n · 2^-53 relative.
            XCTAssertEqual(ck_sum_of_squares(Int64(n), x), squares,
                           accuracy: Double(n) * 0x1p-53 * squares,
                           "ck_sum_of_squares of \(n)")
            var ties: Int64 = 0
            XCTAssertEqual(ck_max(Int64(n), x, &ties), x.max()!)
            XCTAssertEqual(ties, 1)
        }
        var ties: Int64 = 0
        XCTAssertEqual(ck_max(4, [1, 3, 3, 2], &ties), 3)
        XCTAssertEqual(ties, 2)
        XCTAssertTrue(ck_max(3, [1, .nan, 2], &ties).isNaN)
        var dx: [Float] = [9, 9, 9, 9]
        ck_max_backward(4, [1, 3, 3, 2], 3, 0.5, 0, &dx)
        XCTAssertEqual(dx, [0, 0.5, 0.5, 0])
        ck_max_backward(4, [1, 3, 3, 2], 3, 0.5, 1, &dx)
        XCTAssertEqual(dx, [0, 1, 1, 0])
        XCTAssertEqual(ck_sum(0, nil), 0)
        XCTAssertEqual(ck_sum_of_squares(0, nil), 0)
        XCTAssertTrue(ck_mean(0, nil).isNaN)
    }

    func testMaxAlongAnAxis() {
        var rng = SeededGenerator(seed: 44)
        for (outer, n, inner) in [(1, 1, 1), (3, 5, 1), (1, 5, 4), (2, 3, 4), (70, 30, 40)] {
            let x = randomFloats(outer * n * inner, using: &rng)
            var y = [Float](repeating: sentinel, count: outer * inner)
            var indices = [Int64](repeating: -1, count: outer * inner)
            ck_max_axis(Int64(outer), Int64(n), Int64(inner), x, &y, &indices)
            let dy = randomFloats(outer * inner, using: &rng)
            var expectedDx = [Float](repeating: 0, count: x.count)
            for o in 0..<outer {
                for i in 0..<inner {
                    let column = (0..<n).map { x[(o * n + $0) * inner + i] }
                    let k = column.firstIndex(of: column.max()!)!
                    XCTAssertEqual(indices[o * inner + i], Int64(k))
                    XCTAssertEqual(y[o * inner + i], column[k])
                    expectedDx[(o * n + k) * inner + i] = dy[o * inner + i]
                }
            }
            let dx = assertSameResultForThreadCounts { () -> [Float] in
                var dx = [Float](repeating: sentinel, count: x.count)
                ck_max_axis_backward(Int64(outer), Int64(n), Int64(inner), indices, dy, 0, &dx)
                return dx
            }
            assertBitwiseEqual(dx, expectedDx, "\(outer) × \(n) × \(inner)")
        }
        var y: [Float] = [0], indices: [Int64] = [0]
        ck_max_axis(1, 3, 1, [1, .nan, 2], &y, &indices)
        XCTAssertEqual(indices, [1]) // a NaN is the maximum, as PyTorch
    }

    func testTransposeCopyBlockAndScatterAdd() {
        var rng = SeededGenerator(seed: 45)
        for (batch, rows, cols) in [(1, 1, 1), (1, 3, 17), (2, 17, 3), (1, 16, 16), (3, 40, 33),
                                    (2, 300, 200), (1, 257, 211)] {
            let x = randomFloats(batch * rows * cols, using: &rng)
            var expected = [Float](repeating: 0, count: x.count)
            for m in 0..<batch {
                for i in 0..<rows {
                    for j in 0..<cols { expected[m * rows * cols + j * rows + i] = x[m * rows * cols + i * cols + j] }
                }
            }
            let y = assertSameResultForThreadCounts { () -> [Float] in
                var y = [Float](repeating: sentinel, count: x.count)
                ck_transpose(Int64(batch), Int64(rows), Int64(cols), x, 0, &y)
                return y
            }
            assertBitwiseEqual(y, expected, "transpose \(batch) × \(rows) × \(cols)")
            let twice = assertSameResultForThreadCounts { () -> [Float] in
                var twice = y
                ck_transpose(Int64(batch), Int64(rows), Int64(cols), x, 1, &twice)
                return twice
            }
            assertBitwiseEqual(twice, expected.map { $0 + $0 }, "accumulated transpose")
        }
        // A 2 × 3 block of a 2 × 5 source into columns 1..<4 of a 2 × 6 destination.
        let src: [Float] = [0, 1, 2, 3, 0, 0, 4, 5, 6, 0]
        var dst = [Float](repeating: 9, count: 12)
        ck_copy_block(2, 3, Array(src.dropFirst()), 5, 0, &dst[1], 6)
        XCTAssertEqual(dst, [9, 1, 2, 3, 9, 9, 9, 4, 5, 6, 9, 9])
        ck_copy_block(2, 3, Array(src.dropFirst()), 5, 1, &dst[1], 6)
        XCTAssertEqual(dst, [9, 2, 4, 6, 9, 9, 9, 8, 10, 12, 9, 9])
        // Few long rows (a concatenation along the first axis copies one row per input): the
        // threads share the elements, a row cut between them; written or added to.
        for (rows, cols, lds, ldd) in [(1, 70_001, 70_001, 70_001), (3, 40_000, 40_003, 40_017)] {
            let src = randomFloats(rows * lds, using: &rng)
            let before = randomFloats(rows * ldd, using: &rng)
            for accumulate in [Int32(0), 1] {
                var expected = before
                for r in 0..<rows {
                    for j in 0..<cols {
                        let value = src[r * lds + j]
                        expected[r * ldd + j] = accumulate == 1 ? before[r * ldd + j] + value : value
                    }
                }
                let copied = assertSameResultForThreadCounts { () -> [Float] in
                    var dst = before
                    ck_copy_block(Int64(rows), Int64(cols), src, Int64(lds), accumulate, &dst, Int64(ldd))
                    return dst
                }
                assertBitwiseEqual(copied, expected, "copy \(rows) × \(cols), accumulate \(accumulate)")
            }
        }
        // Indices at random, and all of them one row (every addition on one thread).
        for (rows, cols, tableRows, oneRow) in [(1, 1, 1, false), (5, 3, 4, false), (4000, 20, 7, false),
                                                (300, 300, 50, false), (300, 300, 50, true),
                                                (3000, 32, 1, false)] {
            let dy = randomFloats(rows * cols, using: &rng)
            let indices = (0..<rows).map { _ in oneRow ? Int64(tableRows / 2) : Int64(rng.next() % UInt64(tableRows)) }
            let before = randomFloats(tableRows * cols, using: &rng)
            for accumulate in [Int32(0), 1] {
                var expected = accumulate == 1 ? before : [Float](repeating: 0, count: tableRows * cols)
                for r in 0..<rows {
                    for j in 0..<cols { expected[Int(indices[r]) * cols + j] += dy[r * cols + j] }
                }
                let table = assertSameResultForThreadCounts { () -> [Float] in
                    var table = accumulate == 1 ? before : [Float](repeating: sentinel, count: tableRows * cols)
                    ck_scatter_add_rows(Int64(rows), Int64(cols), dy, indices, Int64(tableRows), accumulate,
                                        &table)
                    return table
                }
                assertBitwiseEqual(table, expected,
                                   "scatter-add \(rows) × \(cols) into \(tableRows), accumulate \(accumulate)")
            }
        }
    }

    func testBatchedGEMM() {
        var rng = SeededGenerator(seed: 46)
        let (batch, m, n, k) = (3, 5, 4, 6)
        let a = randomFloats(batch * m * k, using: &rng), b = randomFloats(batch * k * n, using: &rng)
        for sharedB in [false, true] {
            var c = [Float](repeating: sentinel, count: batch * m * n)
            ck_sgemm_batched(Int64(batch), 0, 0, Int64(m), Int64(n), Int64(k), 1, a, Int64(k),
                             Int64(m * k), b, Int64(n), sharedB ? 0 : Int64(k * n), 0, &c, Int64(n), Int64(m * n))
            for i in 0..<batch {
                let bi = sharedB ? 0 : i
                let reference = referenceGEMM(
                    alpha: 1, a: Matrix(rows: m, cols: k, values: Array(a[(i * m * k)..<((i + 1) * m * k)])),
                    b: Matrix(rows: k, cols: n, values: Array(b[(bi * k * n)..<((bi + 1) * k * n)])),
                    beta: 0, c: Matrix(rows: m, cols: n, values: [Float](repeating: 0, count: m * n)))
                assertClose(Array(c[(i * m * n)..<((i + 1) * m * n)]), reference.values,
                            tolerance: reference.bounds, "batch \(i), B shared: \(sharedB)")
            }
        }
        // C shared (stride 0): the sum of the products, beta applied once.
        var c = [Float](repeating: 1, count: m * n)
        ck_sgemm_batched(Int64(batch), 0, 0, Int64(m), Int64(n), Int64(k), 1, a, Int64(k), Int64(m * k),
                         b, Int64(n), Int64(k * n), 1, &c, Int64(n), 0)
        var expected = [Double](repeating: 1, count: m * n)
        for i in 0..<batch {
            for r in 0..<m {
                for j in 0..<n {
                    for p in 0..<k {
                        expected[r * n + j] += Double(a[i * m * k + r * k + p]) * Double(b[i * k * n + p * n + j])
                    }
                }
            }
        }
        assertClose(c, expected, tolerance: 1e-5, "C shared by the batch")
    }

    func testLogSoftmaxAndBinaryCrossEntropy() {
        var rng = SeededGenerator(seed: 47)
        for (rows, classes) in [(1, 1), (3, 7), (5, 1), (300, 257)] {
            let x = randomFloats(rows * classes, in: -20...20, using: &rng)
            let dy = randomFloats(rows * classes, using: &rng)
            var expected = [Double](), expectedDx = [Double]()
            for i in 0..<rows {
                let z = x[(i * classes)..<((i + 1) * classes)].map(Double.init)
                let max = z.max()!, lse = max + Foundation.log(z.map { Foundation.exp($0 - max) }.reduce(0, +))
                let y = z.map { $0 - lse }
                let g = dy[(i * classes)..<((i + 1) * classes)].map(Double.init)
                let total = g.reduce(0, +)
                expected += y
                expectedDx += zip(y, g).map { $1 - Foundation.exp($0) * total }
            }
            let (y, dx) = assertSameResultForThreadCounts { () -> [Float] in
                var y = [Float](repeating: sentinel, count: x.count)
                ck_log_softmax(Int64(rows), Int64(classes), x, &y)
                var dx = [Float](repeating: 1, count: x.count)
                ck_log_softmax_backward(Int64(rows), Int64(classes), y, dy, 1, &dx)
                return y + dx
            }.split(at: x.count)
            assertClose(y, expected, tolerance: expected.map { 4 * eps * (Swift.abs($0) + 8) }, "log-softmax \(rows) × \(classes)")
            assertClose(dx, expectedDx.map { $0 + 1 }, tolerance: 1e-5, "log-softmax backward \(rows) × \(classes)")
        }
        for n in sizes {
            let z = randomFloats(n, in: -30...30, using: &rng), t = randomFloats(n, in: 0...1, using: &rng)
            var loss = 0.0
            var dz = [Double](), dt = [Double]()
            for (zi, ti) in zip(z.map(Double.init), t.map(Double.init)) {
                loss += Swift.max(zi, 0) - zi * ti + Foundation.log(1 + Foundation.exp(-Swift.abs(zi)))
                dz.append((1 / (1 + Foundation.exp(-zi)) - ti) / Double(n))
                dt.append(-zi / Double(n))
            }
            let result = assertSameResultForThreadCounts { () -> [Float] in
                var dz = [Float](repeating: sentinel, count: n), dt = dz
                let loss = ck_binary_cross_entropy_logits(Int64(n), z, t, &dz, &dt)
                return [loss] + dz + dt
            }
            XCTAssertEqual(Double(result[0]), loss / Double(n), accuracy: 1e-5 * (1 + loss / Double(n)))
            assertClose(Array(result[1...n]), dz, tolerance: 4 * eps / Double(n), "dz n \(n)")
            assertClose(Array(result[(n + 1)...]), dt, tolerance: 30 * eps / Double(n), "dt n \(n)")
        }
    }

    /// Binary cross-entropy with one gradient asked for, or none: the loss and that gradient
    /// bit for bit those computed with both, on sizes around a block of 16 and parallel, with
    /// infinite logits among them.
    func testBinaryCrossEntropyComputesTheGradientsAskedForAsWithBoth() {
        var rng = SeededGenerator(seed: 49)
        for n in [1, 2, 15, 16, 17, 33, 70_001] {
            var z = randomFloats(n, in: -30...30, using: &rng)
            let t = randomFloats(n, in: 0...1, using: &rng)
            for (p, value) in [(0, Float.infinity), (n / 2, -.infinity)] where n > 2 { z[p] = value }
            /// The loss, then dz (n elements) if asked for, then dt if asked for.
            func bce(dz withDz: Bool, dt withDt: Bool) -> [Float] {
                assertSameResultForThreadCounts([1, 2], "n \(n), dz \(withDz), dt \(withDt)") { () -> [Float] in
                    var dz = [Float](repeating: sentinel, count: n), dt = dz
                    let loss = dz.withUnsafeMutableBufferPointer { dzBuffer in
                        dt.withUnsafeMutableBufferPointer { dtBuffer in
                            ck_binary_cross_entropy_logits(Int64(n), z, t,
                                                           withDz ? dzBuffer.baseAddress : nil,
                                                           withDt ? dtBuffer.baseAddress : nil)
                        }
                    }
                    return [loss] + (withDz ? dz : []) + (withDt ? dt : [])
                }
            }
            let both = bce(dz: true, dt: true)
            let (loss, dz, dt) = ([both[0]], Array(both[1...n]), Array(both[(n + 1)...]))
            assertBitwiseEqual(bce(dz: true, dt: false), loss + dz, "dz alone, n \(n)")
            assertBitwiseEqual(bce(dz: false, dt: true), loss + dt, "dt alone, n \(n)")
            assertBitwiseEqual(bce(dz: false, dt: false), loss, "neither, n \(n)")
        }
    }

    /// Binary cross-entropy of logits far on the side of their targets (|z| in [17, 80], where
    /// 1 + e^−|z| rounds to 1): each element's loss log(1 + e^−|z|) is about e^−|z|, kept to a
    /// float's relative accuracy instead of lost to 0; sizes around a block of 16 and parallel.
    func testBinaryCrossEntropyKeepsTheLossesOfConfidentLogits() {
        var rng = SeededGenerator(seed: 48)
        for n in [1, 15, 16, 17, 70_001] {
            let z = randomFloats(n, in: 17...80, using: &rng).enumerated().map {
                $0.offset % 3 == 0 ? -$0.element : $0.element
            }
            let t = z.map { $0 > 0 ? Float(1) : 0 }
            let expected = z.map { Foundation.log1p(Foundation.exp(-Swift.abs(Double($0)))) }
                .reduce(0, +) / Double(n)
            let loss = assertSameResultForThreadCounts { () -> [Float] in
                [ck_binary_cross_entropy_logits(Int64(n), z, t, nil, nil)]
            }[0]
            XCTAssertEqual(Double(loss), expected, accuracy: 4 * eps * expected, "n \(n)")
        }
    }
}

private extension Array {
    /// The first `count` elements and the rest.
    func split(at count: Int) -> ([Element], [Element]) { (Array(self[..<count]), Array(self[count...])) }
}
