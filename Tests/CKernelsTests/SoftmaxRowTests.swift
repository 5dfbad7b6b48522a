// ck_softmax, ck_log_softmax and their backward passes at row widths around the kernels'
// 16 partial sums, the row maximum's lanes of 8 and 32 and the groups of 1024 elements, in
// place, with NaN and -inf logits, against references in Double.
import CKernels
import DeepLearning
import Foundation
import XCTest

private let eps = Double(Float.ulpOfOne)

final class SoftmaxRowTests: XCTestCase {
    /// Forward and backward of both kernels against Double references, for rows shorter than,
    /// as long as and longer than the partial sums, the maximum's lanes and the groups, several
    /// rows at a time.
    func testRowWidthsAroundThePartialSumsAndTheGroups() {
        var rng = SeededGenerator(seed: 91)
        for classes in [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 40, 341, 1023, 1024, 1025, 2100] {
            let rows = 5
            let x = randomFloats(rows * classes, in: -12...12, using: &rng)
            let dy = randomFloats(rows * classes, using: &rng)
            var p = [Double](), logP = [Double]()
            for i in 0..<rows {
                let z = x[(i * classes)..<((i + 1) * classes)].map(Double.init), max = z.max()!
                let logSum = Foundation.log(z.reduce(0) { $0 + Foundation.exp($1 - max) })
                logP += z.map { ($0 - max) - logSum }
                p += z.map { Foundation.exp(($0 - max) - logSum) }
            }
            let what = "\(rows) rows of \(classes) classes"
            let probs = rowNormalization(ck_softmax, x, classes: classes)
            // Rounding z - max costs up to |z - max| / 2 <= |log p| / 2 ulps of p.
            let pTolerance = zip(p, logP).map { eps * (4 + Swift.abs($1)) * $0 }
            assertClose(probs, p, tolerance: pTolerance, "softmax, " + what)
            let logProbs = rowNormalization(ck_log_softmax, x, classes: classes)
            assertClose(logProbs, logP, tolerance: logP.map { 3 * eps * (Swift.abs($0) + 1) },
                        "log-softmax, " + what)
            assertBitwiseEqual(rowNormalization(ck_softmax, x, classes: classes, inPlace: true), probs,
                               "softmax in place, " + what)
            assertBitwiseEqual(rowNormalization(ck_log_softmax, x, classes: classes, inPlace: true),
                               logProbs, "log-softmax in place, " + what)

            // The gradients from the kernels' outputs, against Double sums over those outputs.
            var dxSoftmax = [Double](), dxLogSoftmax = [Double](), logTolerance = [Double]()
            for i in 0..<rows {
                let row = (i * classes)..<((i + 1) * classes)
                let dot = row.reduce(0.0) { $0 + Double(dy[$1]) * Double(probs[$1]) }
                let sum = row.reduce(0.0) { $0 + Double(dy[$1]) }
                dxSoftmax += row.map { Double(probs[$0]) * (Double(dy[$0]) - dot) }
                dxLogSoftmax += row.map { Double(dy[$0]) - Foundation.exp(Double(logProbs[$0])) * sum }
                logTolerance += row.map {
                    4 * eps * (Swift.abs(Double(dy[$0])) + Foundation.exp(Double(logProbs[$0])) * Swift.abs(sum))
                }
            }
            var dx = [Float](repeating: sentinel, count: x.count)
            ck_softmax_backward(Int64(rows), Int64(classes), probs, dy, 0, &dx)
            assertClose(dx, dxSoftmax, tolerance: 4e-7, "softmax backward, " + what)
            var inPlace = dy
            inPlace.withUnsafeMutableBufferPointer {
                ck_softmax_backward(Int64(rows), Int64(classes), probs, $0.baseAddress, 0,
                                    $0.baseAddress)
            }
            assertBitwiseEqual(inPlace, dx, "softmax backward in place, " + what)
            // Accumulating adds each element's gradient, as written, to what dx holds.
            let start = randomFloats(x.count, using: &rng)
            var added = start
            ck_softmax_backward(Int64(rows), Int64(classes), probs, dy, 1, &added)
            assertBitwiseEqual(added, zip(start, dx).map { $0 + $1 },
                               "softmax backward accumulating, " + what)
            ck_log_softmax_backward(Int64(rows), Int64(classes), logProbs, dy, 0, &dx)
            assertClose(dx, dxLogSoftmax, tolerance: logTolerance, "log-softmax backward, " + what)
            added = start
            ck_log_softmax_backward(Int64(rows), Int64(classes), logProbs, dy, 1, &added)
            assertBitwiseEqual(added, zip(start, dx).map { $0 + $1 },
                               "log-softmax backward accumulating, " + what)
        }
    }

    /// A group of rows gives each row the bits it has alone (a one-row call, which takes the
    /// rows-one-by-one path: its sum's logarithm or inverse per row, not over the group's sums),
    /// for widths around the 16 partial sums, row counts around the groups, and logits whose
    /// magnitudes span 2^-20 to 2^6 (exponentials from 1 down to subnormals).
    func testGroupsOfRowsGiveTheBitsOfEachRowAlone() {
        var rng = SeededGenerator(seed: 93)
        for classes in [1, 2, 15, 16, 17, 31, 33, 63, 64, 65, 1000] {
            for rows in [1, 3, 7, 17, 255] {
                let x = randomFloats(rows * classes, using: &rng).map {
                    $0 * Float(sign: .plus, exponent: Int.random(in: -20...6, using: &rng), significand: 1)
                }
                for (name, kernel) in [("softmax", ck_softmax), ("log-softmax", ck_log_softmax)] {
                    let alone = (0..<rows).flatMap {
                        rowNormalization(kernel, Array(x[($0 * classes)..<(($0 + 1) * classes)]),
                                         classes: classes)
                    }
                    assertBitwiseEqual(rowNormalization(kernel, x, classes: classes), alone,
                                       "\(name), \(rows) rows of \(classes) classes")
                }
            }
        }
    }

    /// Groups of narrow rows and single wide rows both split between threads (enough
    /// elements for two).
    func testResultsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 92)
        for classes in [10, 1025] {
            let count = 80 * 1025
            let x = randomFloats(count, in: -8...8, using: &rng), dy = randomFloats(count, using: &rng)
            assertSameResultForThreadCounts([1, 2], "\(classes) classes") { () -> [Float] in
                let p = rowNormalization(ck_softmax, x, classes: classes)
                let y = rowNormalization(ck_log_softmax, x, classes: classes)
                let rows = Int64(count / classes)
                var dp = [Float](repeating: 1, count: count)
                var dz = [Float](repeating: 1, count: count)
                ck_softmax_backward(rows, Int64(classes), p, dy, 1, &dp)
                ck_log_softmax_backward(rows, Int64(classes), y, dy, 1, &dz)
                return p + y + dp + dz
            }
        }
    }

    /// A NaN logit makes its whole row NaN and leaves the other rows alone; a -inf logit has
    /// probability 0 (log-probability -inf) and the row's other classes are as without it.
    func testNaNAndMinusInfinityLogits() {
        let classes = 20
        var x = (0..<(3 * classes)).map { Float($0 % 7) - 3 }
        x[classes + 17] = .nan
        x[2 * classes + 3] = -.infinity
        let p = rowNormalization(ck_softmax, x, classes: classes)
        let y = rowNormalization(ck_log_softmax, x, classes: classes)
        XCTAssert(p[classes..<(2 * classes)].allSatisfy(\.isNaN), "softmax of a row with a NaN")
        XCTAssert(y[classes..<(2 * classes)].allSatisfy(\.isNaN), "log-softmax of a row with a NaN")
        XCTAssertFalse(p[0..<classes].contains(where: \.isNaN), "softmax of the row before")
        XCTAssertEqual(p[2 * classes + 3], 0)
        XCTAssertEqual(y[2 * classes + 3], -.infinity)
        var finite = Array(x[(2 * classes)..<(3 * classes)])
        finite.remove(at: 3)
        let pFinite = rowNormalization(ck_softmax, finite, classes: classes - 1)
        var rest = Array(p[(2 * classes)..<(3 * classes)])
        rest.remove(at: 3)
        assertClose(rest, pFinite.map(Double.init), tolerance: pFinite.map { 4 * eps * Double($0) },
                    "softmax of the row with -inf, without it")
    }
}
