// The broadcasting kernels' sums (ck_sum_to, ck_binary_gradient) on long axes,
// against sums in Double: each output is summed in double and rounded once, so it is the
// reference rounded to Float (within an ulp), where a running Float sum stalls at 2^24 or
// drifts by tens of ulps.
import CKernels
import DeepLearning
import XCTest

/// 2^24 + 5 terms: a running Float sum of that many ones stops at 2^24.
let longAxis = (1 << 24) + 5

/// One ulp of each reference value rounded to Float.
func oneUlp(_ expected: [Double]) -> [Double] { expected.map { Double(Float($0).ulp) } }

/// The sums of the columns of a dense rows x cols matrix, in Double.
func columnSums(_ x: [Float], rows: Int, cols: Int) -> [Double] {
    var sums = [Double](repeating: 0, count: cols)
    x.withUnsafeBufferPointer { x in
        for i in 0..<rows {
            for j in 0..<cols { sums[j] += Double(x[i * cols + j]) }
        }
    }
    return sums
}

final class LongSumKernelTests: XCTestCase {
    func testSumsAlongALongLastAxisCountEveryOne() {
        let ones = [Float](repeating: 1, count: longAxis)
        var y: [Float] = [sentinel]
        ck_sum_to(2, [1, Int64(longAxis)], ones, [0, 0], 1, 0, &y)
        XCTAssertEqual(y, [Float(Double(longAxis))], "overwriting")
        y = [1]
        ck_sum_to(2, [1, Int64(longAxis)], ones, [0, 0], 1, 1, &y)
        XCTAssertEqual(y, [Float(Double(longAxis + 1))], "accumulating")
        // The gradient of a bias b [1] in x [1, n] + b, as the reviewer's reproducer.
        var db: [Float] = [sentinel]
        ck_binary_gradient(CK_BINARY_ADD, 1, 2, [1, Int64(longAxis)], ones, nil, [0, 1], nil, [0, 0], 0, &db)
        XCTAssertEqual(db, [Float(Double(longAxis))], "gradient of a broadcast scalar")
    }

    func testColumnSumsOverManyRowsAreTheDoubleSumsRounded() {
        var rng = SeededGenerator(seed: 71)
        // 35 columns: a block of 32 and a tail of 3.
        let (rows, cols) = (300_007, 35)
        let x = randomFloats(rows * cols, in: 0...1, using: &rng)
        let expected = columnSums(x, rows: rows, cols: cols)
        let shape: [Int64] = [Int64(rows), Int64(cols)]
        var y = [Float](repeating: sentinel, count: cols)
        ck_sum_to(2, shape, x, [0, 1], 1, 0, &y)
        assertClose(y, expected, tolerance: oneUlp(expected), "ck_sum_to")
        var accumulated = [Float](repeating: 2, count: cols)
        ck_sum_to(2, shape, x, [0, 1], 1, 1, &accumulated)
        let plusTwo = expected.map { $0 + 2 }
        assertClose(accumulated, plusTwo, tolerance: oneUlp(plusTwo), "ck_sum_to accumulating")
        // d(a * b)/db for b [cols] broadcast over the rows, a all 2: twice the column sums.
        let twos = [Float](repeating: 2, count: rows * cols)
        var dmul = [Float](repeating: sentinel, count: cols)
        ck_binary_gradient(CK_BINARY_MULTIPLY, 1, 2, shape, x, twos, [Int64(cols), 1], twos, [0, 1], 0, &dmul)
        let doubled = expected.map { 2 * $0 }
        assertClose(dmul, doubled, tolerance: oneUlp(doubled), "ck_binary_gradient of a product")
    }

    func testSumsAlongALongMiddleAxisAreTheDoubleSumsRounded() {
        var rng = SeededGenerator(seed: 72)
        let (outer, n, inner) = (2, 500_003, 3)
        let x = randomFloats(outer * n * inner, in: 0...1, using: &rng)
        var expected = [Double]()
        for o in 0..<outer {
            expected += columnSums(Array(x[(o * n * inner)..<((o + 1) * n * inner)]), rows: n, cols: inner)
        }
        var y = [Float](repeating: sentinel, count: outer * inner)
        ck_sum_to(3, [Int64(outer), Int64(n), Int64(inner)], x, [Int64(inner), 0, 1], 1, 0, &y)
        assertClose(y, expected, tolerance: oneUlp(expected), "sum along the middle axis")
    }

    /// The gradient of a broadcast operand and ck_sum_to are the same sums: the same bits.
    func testTheBroadcastGradientIsTheSumsBits() {
        var rng = SeededGenerator(seed: 73)
        for (rows, cols) in [(1, 5), (1000, 37), (70_001, 64)] {
            let dy = randomFloats(rows * cols, using: &rng)
            let shape: [Int64] = [Int64(rows), Int64(cols)]
            var graph = [Float](repeating: sentinel, count: cols), summed = graph
            ck_binary_gradient(CK_BINARY_ADD, 1, 2, shape, dy, nil, [Int64(cols), 1], nil, [0, 1], 0, &graph)
            ck_sum_to(2, shape, dy, [0, 1], 1, 0, &summed)
            assertBitwiseEqual(graph, summed, "\(rows) x \(cols)")
            var graphPlus = [Float](repeating: 0.25, count: cols), summedPlus = graphPlus
            ck_binary_gradient(CK_BINARY_ADD, 1, 2, shape, dy, nil, [Int64(cols), 1], nil, [0, 1], 1, &graphPlus)
            ck_sum_to(2, shape, dy, [0, 1], 1, 1, &summedPlus)
            assertBitwiseEqual(graphPlus, summedPlus, "\(rows) x \(cols): accumulating")
        }
    }

    func testLongColumnSumsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 74)
        let (rows, cols) = (20_011, 77)
        let dy = randomFloats(rows * cols, using: &rng)
        assertSameResultForThreadCounts { () -> [Float] in
            var summed = [Float](repeating: 0, count: cols)
            ck_sum_to(2, [Int64(rows), Int64(cols)], dy, [0, 1], 1, 0, &summed)
            return summed
        }
    }
}
