// The element-wise kernels (bias add and gradient, ReLU forward and backward, row gather,
// row argmax) against plain Swift loops, on tiny sizes and on sizes that go parallel.
import CKernels
import DeepLearning
import XCTest

/// (rows, cols, ld): tiny ones, and 300 x 1001 (> 2 * 32768 elements: two threads' worth).
private let shapes: [(rows: Int, cols: Int, ld: Int)] = [
    (1, 1, 1), (1, 7, 9), (7, 1, 3), (7, 7, 10), (300, 1001, 1003),
]
private let large = (rows: 300, cols: 1001, ld: 1003)

// MARK: - Calling the kernels on Swift values

private func biasAdd(_ x: Matrix, _ bias: [Float]) -> Matrix {
    var x = x
    let (rows, cols, ld) = (Int64(x.rows), Int64(x.cols), Int64(x.ld))
    x.storage.withUnsafeMutableBufferPointer { xs in
        bias.withUnsafeBufferPointer { ck_bias_add(rows, cols, xs.baseAddress, ld, $0.baseAddress) }
    }
    return x
}

/// ck_bias_grad adding to `dbias`, or (`accumulate` false) overwriting it.
private func biasGrad(_ dy: Matrix, accumulatingInto dbias: [Float], accumulate: Bool = true) -> [Float] {
    var dbias = dbias
    dy.storage.withUnsafeBufferPointer { dys in
        dbias.withUnsafeMutableBufferPointer {
            ck_bias_grad(Int64(dy.rows), Int64(dy.cols), dys.baseAddress, Int64(dy.ld), accumulate ? 1 : 0,
                         $0.baseAddress)
        }
    }
    return dbias
}

/// ck_relu_forward out of place (into a buffer one float longer, whose last float must stay
/// untouched) or in place.
private func reluForward(_ x: [Float], inPlace: Bool, file: StaticString = #filePath, line: UInt = #line) -> [Float] {
    let n = Int64(x.count)
    if inPlace {
        var y = x
        y.withUnsafeMutableBufferPointer { ck_relu_forward(n, $0.baseAddress, $0.baseAddress) }
        return y
    }
    var y = [Float](repeating: sentinel, count: x.count + 1)
    x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { ck_relu_forward(n, xs.baseAddress, $0.baseAddress) } }
    XCTAssertTrue(y.last!.hasSameBits(as: sentinel), "wrote past y[n - 1]", file: file, line: line)
    return Array(y.dropLast())
}

/// ck_relu_backward out of place (guarded like reluForward) or in place (dx == dy).
private func reluBackward(
    y: [Float], dy: [Float], inPlace: Bool, file: StaticString = #filePath, line: UInt = #line
) -> [Float] {
    let n = Int64(y.count)
    if inPlace {
        var dx = dy
        y.withUnsafeBufferPointer { ys in
            dx.withUnsafeMutableBufferPointer { ck_relu_backward(n, ys.baseAddress, $0.baseAddress, $0.baseAddress) }
        }
        return dx
    }
    var dx = [Float](repeating: sentinel, count: y.count + 1)
    y.withUnsafeBufferPointer { ys in
        dy.withUnsafeBufferPointer { dys in
            dx.withUnsafeMutableBufferPointer { ck_relu_backward(n, ys.baseAddress, dys.baseAddress, $0.baseAddress) }
        }
    }
    XCTAssertTrue(dx.last!.hasSameBits(as: sentinel), "wrote past dx[n - 1]", file: file, line: line)
    return Array(dx.dropLast())
}

/// ck_gather_rows into a dense buffer one float longer (guarded like reluForward).
private func gatherRows(_ src: Matrix, _ indices: [Int64], file: StaticString = #filePath, line: UInt = #line) -> [Float] {
    var dst = [Float](repeating: sentinel, count: indices.count * src.cols + 1)
    src.storage.withUnsafeBufferPointer { ss in
        indices.withUnsafeBufferPointer { idx in
            dst.withUnsafeMutableBufferPointer {
                ck_gather_rows(Int64(indices.count), Int64(src.cols), ss.baseAddress, Int64(src.ld), idx.baseAddress, $0.baseAddress)
            }
        }
    }
    XCTAssertTrue(dst.last!.hasSameBits(as: sentinel), "wrote past dst", file: file, line: line)
    return Array(dst.dropLast())
}

private func argmaxRows(_ x: Matrix) -> [Int32] {
    var out = [Int32](repeating: -1, count: x.rows)
    x.storage.withUnsafeBufferPointer { xs in
        out.withUnsafeMutableBufferPointer { ck_argmax_rows(Int64(x.rows), Int64(x.cols), xs.baseAddress, Int64(x.ld), $0.baseAddress) }
    }
    return out
}

// MARK: - References

/// The contract's argmax: the smallest j maximizing row[j], NaN below every number.
private func referenceArgmax(_ row: [Float]) -> Int32 {
    func isGreater(_ a: Float, _ b: Float) -> Bool { !a.isNaN && (b.isNaN || a > b) }
    var best = 0
    for j in row.indices.dropFirst() where isGreater(row[j], row[best]) { best = j }
    return Int32(best)
}

/// The contract's rule: x where it is not below 0 (NaN and -0.0 stay as they are), else +0.
private func referenceReluForward(_ x: [Float]) -> [Float] { x.map { $0 < 0 ? 0 : $0 } }

private func referenceReluBackward(y: [Float], dy: [Float]) -> [Float] { zip(y, dy).map { $0 > 0 ? $1 : 0 } }

/// Special values for ReLU: NaN, signed zeros and infinities, subnormals, ordinary numbers.
private let specialValues: [Float] = [
    .nan, -0.0, 0.0, .infinity, -.infinity, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
    .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1.5, -2.25,
]

final class ElementwiseTests: XCTestCase {
    func testBiasAddAddsBiasToEveryRowAndLeavesPadding() {
        var rng = SeededGenerator(seed: 11)
        for shape in shapes {
            let x = Matrix.random(rows: shape.rows, cols: shape.cols, ld: shape.ld, using: &rng)
            let bias = randomFloats(shape.cols, using: &rng)
            let result = biasAdd(x, bias)
            let expected = (0..<shape.rows).flatMap { i in (0..<shape.cols).map { x[i, $0] + bias[$0] } }
            assertBitwiseEqual(result.values, expected, "\(shape)")
            XCTAssertNil(result.firstChangedPadding, "\(shape)")
        }
        let x = Matrix.random(rows: large.rows, cols: large.cols, ld: large.ld, using: &rng)
        let bias = randomFloats(large.cols, using: &rng)
        assertSameResultForThreadCounts { biasAdd(x, bias).storage }
    }

    /// dbias[j] += sum over i of dy[i][j]: accumulates into a nonzero dbias, never reads padding.
    /// Each column is summed in row order, one float addition after another (the kernel adds
    /// several rows per pass, in that order): the same bits as the plain loop.
    func testBiasGradAccumulatesColumnSums() {
        var rng = SeededGenerator(seed: 12)
        for shape in shapes {
            let dy = Matrix.random(rows: shape.rows, cols: shape.cols, ld: shape.ld, using: &rng)
            let dbias = randomFloats(shape.cols, in: 1...2, using: &rng)
            let result = biasGrad(dy, accumulatingInto: dbias)
            var expected = dbias.map(Double.init), magnitude = dbias.map { abs(Double($0)) }
            var inRowOrder = dbias
            for i in 0..<shape.rows {
                for j in 0..<shape.cols {
                    expected[j] += Double(dy[i, j])
                    magnitude[j] += abs(Double(dy[i, j]))
                    inRowOrder[j] += dy[i, j]
                }
            }
            let eps = Double(Float.ulpOfOne)
            assertClose(result, expected, tolerance: magnitude.map { Double(shape.rows + 1) * eps * $0 }, "\(shape)")
            assertBitwiseEqual(result, inRowOrder, "row order, \(shape)")
        }
        let dy = Matrix.random(rows: large.rows, cols: large.cols, ld: large.ld, using: &rng)
        let dbias = randomFloats(large.cols, using: &rng)
        assertSameResultForThreadCounts { biasGrad(dy, accumulatingInto: dbias) }
    }

    func testBiasGradWithoutAccumulateOverwritesAsIfFromZeros() {
        var rng = SeededGenerator(seed: 22)
        for shape in shapes + [large] {
            let dy = Matrix.random(rows: shape.rows, cols: shape.cols, ld: shape.ld, using: &rng)
            let stale = [Float](repeating: .nan, count: shape.cols)
            let overwritten = biasGrad(dy, accumulatingInto: stale, accumulate: false)
            let fromZeros = biasGrad(dy, accumulatingInto: [Float](repeating: 0, count: shape.cols))
            assertBitwiseEqual(overwritten, fromZeros, "\(shape)")
        }
        let dy = Matrix.random(rows: large.rows, cols: large.cols, ld: large.ld, using: &rng)
        let stale = randomFloats(large.cols, using: &rng)
        assertSameResultForThreadCounts { biasGrad(dy, accumulatingInto: stale, accumulate: false) }
    }

    func testReluForwardOutOfPlaceAndInPlace() {
        var rng = SeededGenerator(seed: 13)
        let inputs = [[Float(-3)], specialValues, randomFloats(7, using: &rng), randomFloats(large.rows * large.cols, using: &rng)]
        for x in inputs {
            let expected = referenceReluForward(x)
            for inPlace in [false, true] {
                let y = reluForward(x, inPlace: inPlace)
                assertBitwiseEqual(y, expected, "n \(x.count), in place \(inPlace)")
                XCTAssertFalse(y.contains { $0 < 0 }, "negative output, n \(x.count)")
            }
        }
        let x = inputs.last!
        assertSameResultForThreadCounts { reluForward(x, inPlace: false) }
        assertSameResultForThreadCounts { reluForward(x, inPlace: true) }
    }

    func testReluBackwardPassesGradientWhereOutputIsPositive() {
        var rng = SeededGenerator(seed: 14)
        let count = large.rows * large.cols
        let cases: [(y: [Float], dy: [Float])] = [
            ([2], [0.5]),
            ([0], [0.5]),
            (specialValues, randomFloats(specialValues.count, using: &rng)),
            (randomFloats(7, using: &rng), randomFloats(7, using: &rng)),
            (referenceReluForward(randomFloats(count, using: &rng)), randomFloats(count, using: &rng)),
        ]
        for (y, dy) in cases {
            let expected = referenceReluBackward(y: y, dy: dy)
            for inPlace in [false, true] {
                assertEqualValues(reluBackward(y: y, dy: dy, inPlace: inPlace), expected, "n \(y.count), in place \(inPlace)")
            }
        }
        let (y, dy) = cases.last!
        assertSameResultForThreadCounts { reluBackward(y: y, dy: dy, inPlace: false) }
        assertSameResultForThreadCounts { reluBackward(y: y, dy: dy, inPlace: true) }
    }

    func testGatherRowsCopiesIndexedRowsFromPaddedSource() {
        var rng = SeededGenerator(seed: 15)
        // Plus the spiral's rows of 2 floats and both sides of the short-row copy (16 floats).
        for shape in shapes + [(20, 2, 2), (5, 16, 16), (5, 17, 19)] {
            let sourceRows = shape.rows + 5
            let src = Matrix.random(rows: sourceRows, cols: shape.cols, ld: shape.ld, using: &rng)
            // First and last rows, repeats, and random rows.
            var indices: [Int64] = [0, Int64(sourceRows - 1), 0]
            indices += (0..<shape.rows).map { _ in Int64.random(in: 0..<Int64(sourceRows), using: &rng) }
            let expected = indices.flatMap { r in (0..<shape.cols).map { src[Int(r), $0] } }
            assertBitwiseEqual(gatherRows(src, indices), expected, "\(shape)")
        }
        let src = Matrix.random(rows: 400, cols: large.cols, ld: large.ld, using: &rng)
        let indices = (0..<large.rows).map { _ in Int64.random(in: 0..<400, using: &rng) }
        assertSameResultForThreadCounts { gatherRows(src, indices) }
    }

    func testArgmaxRowsOnTiesNaNAndInfinities() {
        let rows: [[Float]] = [
            [7],
            [1, 3, 3, 2],  // tie: first
            [-0.0, 0.0],  // -0 == +0: a tie
            [.nan, .nan, .nan],  // all NaN: every j ties, so 0
            [.nan, -.infinity, -.infinity],  // NaN below every number, -inf included
            [.nan, 2, .nan, 5, 5],
            [-.infinity, -.infinity],
            [1, .infinity, .nan, .infinity],
            [-5, -4, -4.5],
        ]
        let cols = rows.map(\.count).max()!
        for row in rows {
            // One row per matrix, padding +inf: a kernel that reads past cols picks it.
            let x = Matrix(rows: 1, cols: row.count, ld: cols + 2, padding: .infinity, values: row)
            XCTAssertEqual(argmaxRows(x), [referenceArgmax(row)], "row \(row)")
        }
        XCTAssertEqual([0, 1, 0, 0, 1, 3, 0, 1, 1], rows.map(referenceArgmax), "the reference itself")
    }

    func testArgmaxRowsMatchesReferenceOnRandomRowsWithTies() {
        var rng = SeededGenerator(seed: 16)
        for shape in shapes {
            // Few distinct values: many ties. Some NaN.
            let values = (0..<shape.rows * shape.cols).map { _ -> Float in
                let v = Float(Int.random(in: 0..<20, using: &rng))
                return v == 0 ? .nan : v
            }
            let x = Matrix(rows: shape.rows, cols: shape.cols, ld: shape.ld, padding: .infinity, values: values)
            let expected = (0..<shape.rows).map { i in referenceArgmax((0..<shape.cols).map { x[i, $0] }) }
            XCTAssertEqual(argmaxRows(x), expected, "\(shape)")
            if shape == large { assertSameResultForThreadCounts { argmaxRows(x) } }
        }
    }

    /// A size of 0 does nothing, and NULL pointers are fine when nothing is read.
    func testZeroSizesDoNothing() {
        var x = Matrix(rows: 2, cols: 0, ld: 3, values: [])
        x = biasAdd(x, [])
        XCTAssertNil(x.firstChangedPadding)
        let dy = Matrix(rows: 0, cols: 3, values: [])
        XCTAssertEqual(biasGrad(dy, accumulatingInto: [1, 2, 3]), [1, 2, 3])
        ck_relu_forward(0, nil, nil)
        ck_relu_backward(0, nil, nil, nil)
        ck_gather_rows(0, 5, nil, 5, nil, nil)
        ck_argmax_rows(0, 1, nil, 1, nil)
    }
}
