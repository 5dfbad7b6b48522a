// ck_softmax_cross_entropy and ck_softmax against Double references.
import CKernels
import DeepLearning
import XCTest

private let eps = Double(Float.ulpOfOne)

/// The loss and gradient in Double, per the header:
///   loss = (1 / rows) sum_i -log softmax(z_i)[label_i],  d_i = (softmax(z_i) - onehot) / rows.
private func referenceCrossEntropy(logits: [Float], labels: [Int32], classes: Int)
    -> (loss: Double, dlogits: [Double])
{
    let rows = labels.count
    var loss = 0.0
    var dlogits = [Double](repeating: 0, count: rows * classes)
    for i in 0..<rows {
        let p = referenceSoftmax(Array(logits[(i * classes)..<((i + 1) * classes)]))
        let z = logits[(i * classes)..<((i + 1) * classes)].map(Double.init)
        let max = z.max()!
        let label = Int(labels[i])
        loss += log(z.reduce(0) { $0 + exp($1 - max) }) - (z[label] - max)
        for j in 0..<classes { dlogits[i * classes + j] = (p[j] - (j == label ? 1 : 0)) / Double(rows) }
    }
    return (loss / Double(rows), dlogits)
}

private func referenceSoftmax(_ row: [Float]) -> [Double] {
    let z = row.map(Double.init), max = z.max()!
    let e = z.map { exp($0 - max) }, sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

/// ck_softmax_cross_entropy: writes the gradient into `dlogits` (nil: NULL) and the loss into
/// `loss`, and returns the status.
private func crossEntropy(
    logits: [Float], labels: [Int32], classes: Int, dlogits: inout [Float]?, loss: inout Float
) -> Int32 {
    logits.withUnsafeBufferPointer { z in
        labels.withUnsafeBufferPointer { l in
            if dlogits == nil {
                return ck_softmax_cross_entropy(Int64(labels.count), Int64(classes), z.baseAddress, l.baseAddress, nil, &loss)
            }
            return dlogits!.withUnsafeMutableBufferPointer { d in
                ck_softmax_cross_entropy(Int64(labels.count), Int64(classes), z.baseAddress, l.baseAddress, d.baseAddress, &loss)
            }
        }
    }
}

/// ck_softmax_cross_entropy with dlogits == logits: returns status, loss and the gradient.
private func crossEntropyInPlace(logits: [Float], labels: [Int32], classes: Int) -> (status: Int32, loss: Float, dlogits: [Float]) {
    var buffer = logits, loss: Float = 0
    let status = labels.withUnsafeBufferPointer { l in
        buffer.withUnsafeMutableBufferPointer { d in
            ck_softmax_cross_entropy(Int64(labels.count), Int64(classes), d.baseAddress, l.baseAddress, d.baseAddress, &loss)
        }
    }
    return (status, loss, buffer)
}

/// A random problem: logits in -scale...scale, labels in 0..<classes.
private func randomProblem(rows: Int, classes: Int, scale: Float, using rng: inout SeededGenerator) -> (logits: [Float], labels: [Int32]) {
    (randomFloats(rows * classes, in: -scale...scale, using: &rng),
     (0..<rows).map { _ in Int32.random(in: 0..<Int32(classes), using: &rng) })
}

/// Float error bounds for a softmax computed from the row maximum: per element about
/// (classes + 8) eps relative to p (plus the one-hot term), and for the loss
/// (classes + 8) eps plus eps times the logits' size.
private func gradientTolerance(_ reference: [Double], classes: Int, rows: Int) -> [Double] {
    reference.map { Double(classes + 8) * eps * (abs($0) + 1 / Double(rows)) }
}

final class LossTests: XCTestCase {
    func testSoftmaxCrossEntropyMatchesReference() {
        var rng = SeededGenerator(seed: 21)
        // Up to 128 classes rows are computed in blocks of rows, from 129 on one by one.
        for (rows, classes, scale) in [(1, 1, Float(1)), (1, 2, 1), (3, 5, 3), (7, 10, 10), (64, 3, 30), (33, 100, 5),
                                       (5, 129, 5), (3, 300, 8)] {
            let (logits, labels) = randomProblem(rows: rows, classes: classes, scale: scale, using: &rng)
            let reference = referenceCrossEntropy(logits: logits, labels: labels, classes: classes)
            var dlogits: [Float]? = [Float](repeating: sentinel, count: rows * classes), loss: Float = .nan
            let what = "rows \(rows), classes \(classes), logits in +-\(scale)"
            XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss), 0, what)
            let lossTolerance = Double(classes + 8) * eps * (1 + abs(reference.loss) + Double(scale))
            assertClose([loss], [reference.loss], tolerance: lossTolerance, "loss, " + what)
            assertClose(dlogits!, reference.dlogits, tolerance: gradientTolerance(reference.dlogits, classes: classes, rows: rows), "dlogits, " + what)
        }
    }

    /// Logits of +-1e4 and large equal logits: finite loss, and the exact gradient (every
    /// softmax value here is 0, 1/2, 1/4 or 1 in both Float and Double).
    func testExtremeLogitsGiveFiniteLossAndExactGradient() {
        let classes = 4
        let logits: [Float] = [
            1e4, -1e4, 0, 5,  // softmax (1, 0, 0, 0), label 1: loss 2e4
            1e4, 1e4, 1e4, 1e4,  // uniform, label 2: loss log 4
            -1e4, -1e4, -1e4, -1e4,  // uniform, label 0: loss log 4
            -1e4, 1e4, -1e4, 1e4,  // (0, 1/2, 0, 1/2), label 3: loss log 2
        ]
        let labels: [Int32] = [1, 2, 0, 3]
        let expectedGradient: [Float] = [  // (softmax - onehot) / 4
            0.25, -0.25, 0, 0,
            0.0625, 0.0625, -0.1875, 0.0625,
            -0.1875, 0.0625, 0.0625, 0.0625,
            0, 0.125, 0, -0.125,
        ]
        let expectedLoss = (2e4 + 2 * log(4.0) + log(2.0)) / 4
        var dlogits: [Float]? = [Float](repeating: sentinel, count: logits.count), loss: Float = .nan
        XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss), 0)
        XCTAssertTrue(loss.isFinite, "loss \(loss)")
        XCTAssertEqual(Double(loss), expectedLoss, accuracy: 4 * eps * expectedLoss)
        assertEqualValues(dlogits!, expectedGradient, "out of place")
        let inPlace = crossEntropyInPlace(logits: logits, labels: labels, classes: classes)
        XCTAssertEqual(inPlace.status, 0)
        XCTAssertEqual(Double(inPlace.loss), expectedLoss, accuracy: 4 * eps * expectedLoss)
        assertEqualValues(inPlace.dlogits, expectedGradient, "in place")
    }

    /// A label outside [0, classes) returns the error and writes nothing: not the loss, not
    /// dlogits, not logits when in place.
    func testOutOfRangeLabelReturnsErrorAndWritesNothing() {
        var rng = SeededGenerator(seed: 22)
        let (rows, classes) = (5, 3)
        let (logits, validLabels) = randomProblem(rows: rows, classes: classes, scale: 1, using: &rng)
        for (row, bad) in [(0, Int32(-1)), (4, Int32(classes)), (2, Int32.min), (3, Int32.max)] {
            var labels = validLabels
            labels[row] = bad
            let what = "label \(bad) in row \(row)"
            var dlogits: [Float]? = [Float](repeating: sentinel, count: rows * classes), loss = sentinel
            let status = crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss)
            XCTAssertEqual(status, CK_ERROR_LABEL_OUT_OF_RANGE, what)
            XCTAssertTrue(loss.hasSameBits(as: sentinel), "loss written: \(loss), " + what)
            assertBitwiseEqual(dlogits!, [Float](repeating: sentinel, count: rows * classes), "dlogits, " + what)

            var noGradient: [Float]? = nil
            loss = sentinel
            XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &noGradient, loss: &loss),
                           CK_ERROR_LABEL_OUT_OF_RANGE, "NULL dlogits, " + what)
            XCTAssertTrue(loss.hasSameBits(as: sentinel), "loss written with NULL dlogits: \(loss), " + what)

            let inPlace = crossEntropyInPlace(logits: logits, labels: labels, classes: classes)
            XCTAssertEqual(inPlace.status, CK_ERROR_LABEL_OUT_OF_RANGE, "in place, " + what)
            assertBitwiseEqual(inPlace.dlogits, logits, "logits changed in place, " + what)
        }
    }

    /// dlogits == NULL computes the loss only: the same loss as with a gradient.
    func testNullDlogitsGivesTheSameLoss() {
        var rng = SeededGenerator(seed: 23)
        let (rows, classes) = (50, 7)
        let (logits, labels) = randomProblem(rows: rows, classes: classes, scale: 4, using: &rng)
        var dlogits: [Float]? = [Float](repeating: 0, count: rows * classes), none: [Float]? = nil
        var withGradient: Float = .nan, lossOnly: Float = .nan
        XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &withGradient), 0)
        XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &none, loss: &lossOnly), 0)
        XCTAssertTrue(lossOnly.hasSameBits(as: withGradient), "loss only \(lossOnly), with gradient \(withGradient)")
    }

    func testInPlaceGradientMatchesReference() {
        var rng = SeededGenerator(seed: 24)
        let (rows, classes) = (9, 13)
        let (logits, labels) = randomProblem(rows: rows, classes: classes, scale: 8, using: &rng)
        let reference = referenceCrossEntropy(logits: logits, labels: labels, classes: classes)
        let result = crossEntropyInPlace(logits: logits, labels: labels, classes: classes)
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(Double(result.loss), reference.loss, accuracy: Double(classes + 8) * eps * (1 + reference.loss + 8))
        assertClose(result.dlogits, reference.dlogits, tolerance: gradientTolerance(reference.dlogits, classes: classes, rows: rows))
    }

    /// More than 2 * 32768 logits: goes parallel; loss and gradient bitwise equal for 1 and 2
    /// threads, and the loss close to the reference. Few classes (computed in blocks of rows)
    /// with row counts that cut blocks and chunks unevenly, and many (row by row). Some rows
    /// have a loss of 2e4 and many of 1e-14...1e-2, so that the sum is sensitive to its order
    /// (as far as the final rounding to Float lets that show).
    func testLossIsIndependentOfThreadCount() {
        var rng = SeededGenerator(seed: 25)
        for (rows, classes) in [(4096, 33), (30001, 3), (4099, 17), (401, 200)] {
            var (logits, labels) = randomProblem(rows: rows, classes: classes, scale: 6, using: &rng)
            for i in stride(from: 0, to: rows, by: 7) {  // label on -1e4, another logit 1e4: loss 2e4
                logits[i * classes + Int(labels[i])] = -1e4
                logits[i * classes + (Int(labels[i]) + 1) % classes] = 1e4
            }
            for i in stride(from: 3, to: rows, by: 2) {  // label 15...30, the rest within +-6: loss 1e-14...1e-2
                logits[i * classes + Int(labels[i])] = randomFloats(1, in: 15...30, using: &rng)[0]
            }
            let what = "rows \(rows), classes \(classes)"
            assertSameResultForThreadCounts([1, 2], what) { () -> [Float] in
                var dlogits: [Float]? = [Float](repeating: sentinel, count: rows * classes), loss: Float = .nan
                XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss), 0)
                return [loss] + dlogits!
            }
            assertSameResultForThreadCounts([1, 2], "NULL dlogits, " + what) { () -> [Float] in
                var none: [Float]? = nil, loss: Float = .nan
                XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &none, loss: &loss), 0)
                return [loss]
            }
            let reference = referenceCrossEntropy(logits: logits, labels: labels, classes: classes)
            var none: [Float]? = nil, loss: Float = .nan
            _ = crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &none, loss: &loss)
            XCTAssertEqual(Double(loss), reference.loss, accuracy: Double(classes + 8) * eps * (1 + reference.loss + 1e4), what)
        }
    }

    /// The loss sums the rows' losses in the order ck_softmax_cross_entropy fixes: the rows in
    /// ck_parallel_sum's chunks (rows / 64 rows each, at least 64), in a chunk groups of
    /// 256 / classes rows (one row from 129 classes on), each group's losses in partial sums
    /// (laneTotal), the groups' totals and then the chunks' added in order, divided by the
    /// rows. Each row's loss is the one a one-row call gives. Rows 0 and 1 have losses 2^60
    /// and 2^36 (the label at -L, one other logit at 0, the rest far below), the first four
    /// rows of the next group 64 each, the others about 0: the mean of 2^60 + 2^36 over a power
    /// of two rows is halfway between two floats. Where a group holds four rows or more (up to
    /// 64 classes), the four 64s (each half an ulp of 2^60 in double) are added together first
    /// and round the mean up; added to 2^60 one by one (a sum in order, or a block's groups
    /// summed as one) they vanish, leaving a tie that rounds to even.
    func testLossSumsEachGroupOfRowsInPartialSums() {
        for (rows, classes) in [5, 10, 17, 20, 33, 63, 100, 128, 200].flatMap({ c in [(256, c), (8192, c)] }) {
            let chunk = max(rows / 64, 64)
            let group = max(256 / classes, 1)
            var logits = [Float](repeating: -1e4, count: rows * classes)
            let labels = (0..<rows).map { Int32($0 % classes) }
            for i in 0..<rows { logits[i * classes + Int(labels[i])] = 0 }
            for (i, loss) in [(0, 0x1p60), (1, 0x1p36), (group, 64), (group + 1, 64), (group + 2, 64), (group + 3, 64)] as [(Int, Float)] {
                logits[i * classes + Int(labels[i])] = -loss
                logits[i * classes + (Int(labels[i]) + 1) % classes] = 0
            }
            let rowLosses = (0..<rows).map { i -> Double in
                var none: [Float]? = nil, loss: Float = .nan
                XCTAssertEqual(crossEntropy(logits: Array(logits[(i * classes)..<((i + 1) * classes)]), labels: [labels[i]],
                                            classes: classes, dlogits: &none, loss: &loss), 0)
                return Double(loss)
            }
            var total = 0.0
            for start in stride(from: 0, to: rows, by: chunk) {
                var chunkTotal = 0.0
                for first in stride(from: start, to: start + chunk, by: group) {
                    chunkTotal += laneTotal(Array(rowLosses[first..<min(first + group, start + chunk)]))
                }
                total += chunkTotal
            }
            let expected = Float(total / Double(rows)), what = "rows \(rows), classes \(classes)"
            var dlogits: [Float]? = [Float](repeating: sentinel, count: rows * classes), loss: Float = .nan
            XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss), 0, what)
            assertBitwiseEqual([loss], [expected], what)
            var none: [Float]? = nil, lossOnly: Float = .nan
            XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &none, loss: &lossOnly), 0, what)
            assertBitwiseEqual([lossOnly], [expected], "NULL dlogits, " + what)
        }
    }

    /// Rows of few classes (computed in blocks of 256 / classes rows, whose exponentials and
    /// logarithms are taken across rows) at awkward shapes: every class count from 1 to 16 (each
    /// compiled on its own) and 17, row counts that are no multiple of a vector or a block,
    /// labels at 0 and classes - 1,
    /// rows of +-1e4 and of equal logits. Out of place against the reference; in place and
    /// with dlogits NULL the same bits as out of place.
    func testFewClassesMatchReferenceAtAwkwardShapes() {
        var rng = SeededGenerator(seed: 27)
        for classes in 1...17 {
            for rows in [1, 7, 17, 33, 100, 257] {
                var (logits, labels) = randomProblem(rows: rows, classes: classes, scale: 8, using: &rng)
                for i in 0..<rows {
                    let row = (i * classes)..<((i + 1) * classes)
                    switch i % 5 {
                    case 0: labels[i] = 0
                    case 1: labels[i] = Int32(classes - 1)
                    case 2: for (k, j) in row.enumerated() { logits[j] = k % 2 == 0 ? 1e4 : -1e4 }
                    case 3: for j in row { logits[j] = i % 2 == 0 ? 1e4 : -3 }
                    default: break
                    }
                }
                let what = "rows \(rows), classes \(classes)"
                let reference = referenceCrossEntropy(logits: logits, labels: labels, classes: classes)
                var dlogits: [Float]? = [Float](repeating: sentinel, count: rows * classes), loss: Float = .nan
                XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &dlogits, loss: &loss), 0, what)
                let lossTolerance = Double(classes + 8) * eps * (1 + abs(reference.loss) + 8)
                assertClose([loss], [reference.loss], tolerance: lossTolerance, "loss, " + what)
                assertClose(dlogits!, reference.dlogits, tolerance: gradientTolerance(reference.dlogits, classes: classes, rows: rows),
                            "dlogits, " + what)

                let inPlace = crossEntropyInPlace(logits: logits, labels: labels, classes: classes)
                XCTAssertEqual(inPlace.status, 0, what)
                assertBitwiseEqual([inPlace.loss] + inPlace.dlogits, [loss] + dlogits!, "in place vs out of place, " + what)

                var none: [Float]? = nil, lossOnly: Float = .nan
                XCTAssertEqual(crossEntropy(logits: logits, labels: labels, classes: classes, dlogits: &none, loss: &lossOnly), 0, what)
                XCTAssertTrue(lossOnly.hasSameBits(as: loss), "NULL dlogits: loss \(lossOnly) vs \(loss), " + what)
            }
        }
    }

    /// The loss of a row whose label holds its maximum is log(sum over j of exp(z_j - max)),
    /// with the sum anywhere in [1, classes]: rows (0, t, ..., t), t from -20 to 0. The
    /// logarithm (vector_math.h's log_positive, within 1 ulp of logf) and the sum's rounding
    /// (about classes ulp) must keep it within (classes + 1) eps + 1 ulp of the exact value.
    func testLossIsAccurateForSumsFromOneToClasses() {
        for classes in [2, 3, 10, 16, 128, 200] {
            for step in 0...200 {
                let t = -20 * Float(step) / 200
                let logits = [0] + [Float](repeating: t, count: classes - 1)
                var none: [Float]? = nil, loss: Float = .nan
                XCTAssertEqual(crossEntropy(logits: logits, labels: [0], classes: classes, dlogits: &none, loss: &loss), 0)
                let exact = log(1 + Double(classes - 1) * exp(Double(t)))
                XCTAssertEqual(Double(loss), exact, accuracy: eps * (Double(classes + 1) + exact),
                               "classes \(classes), t \(t): sum \(1 + Double(classes - 1) * exp(Double(t)))")
            }
        }
    }

    func testSoftmaxMatchesReferenceAndRowsSumToOne() {
        var rng = SeededGenerator(seed: 26)
        for (rows, classes, scale) in [(1, 1, Float(1)), (2, 3, 1), (7, 10, 20), (5, 4, 1e4), (4096, 33, 6)] {
            let logits = randomFloats(rows * classes, in: -scale...scale, using: &rng)
            let reference = (0..<rows).flatMap { i in referenceSoftmax(Array(logits[(i * classes)..<((i + 1) * classes)])) }
            let tolerance = reference.map { Double(classes + 8) * eps * $0 }
            for inPlace in [false, true] {
                let what = "rows \(rows), classes \(classes), logits in +-\(scale), in place \(inPlace)"
                let probs = rowNormalization(ck_softmax, logits, classes: classes, inPlace: inPlace)
                assertClose(probs, reference, tolerance: tolerance, what)
                for i in 0..<rows {
                    let sum = probs[(i * classes)..<((i + 1) * classes)].reduce(0.0) { $0 + Double($1) }
                    XCTAssertEqual(sum, 1, accuracy: Double(classes + 8) * eps, "row \(i), " + what)
                }
            }
            if rows * classes > 2 * 32768 {
                assertSameResultForThreadCounts { rowNormalization(ck_softmax, logits, classes: classes) }
            }
        }
    }
}
