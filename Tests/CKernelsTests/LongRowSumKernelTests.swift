// Kernels that sum a long row or window on the way (softmax and cross-entropy's sums of
// exponentials, softmax and log-softmax backward's row sums, the multi-class hinge's margins,
// average pooling's windows), against references in Double: with the sums in double the
// results are within a few ulps, where a running Float sum is off by tens of ulps.
import CKernels
import DeepLearning
import Foundation
import XCTest

/// `ulps` ulps of each reference value rounded to Float.
private func ulps(_ ulps: Double, of expected: [Double]) -> [Double] {
    expected.map { ulps * Double(Float($0).ulp) }
}

final class LongRowSumKernelTests: XCTestCase {
    func testSoftmaxOfALongRowDividesByTheSumOfItsExponentials() throws {
        var rng = SeededGenerator(seed: 81)
        let classes = 4_000_037
        let z = randomFloats(classes, in: 0...1, using: &rng)
        let max = Double(z.max()!)
        let e = z.map { Foundation.exp(Double($0) - max) }
        let total = e.reduce(0, +)
        let expected = e.map { $0 / total }
        var p = [Float](repeating: sentinel, count: classes)
        ck_softmax(1, Int64(classes), z, &p)
        assertClose(p, expected, tolerance: ulps(4, of: expected), "ck_softmax")
        // Cross-entropy's gradient is the same softmax, less 1 at the label.
        var d = [Float](repeating: sentinel, count: classes), loss: Float = 0
        let status = ck_softmax_cross_entropy(1, Int64(classes), z, [7], &d, &loss)
        XCTAssertEqual(status, 0)
        var gradient = expected
        gradient[7] -= 1
        var tolerance = ulps(4, of: expected)
        tolerance[7] += 4 * Double(Float(1).ulp)
        assertClose(d, gradient, tolerance: tolerance, "ck_softmax_cross_entropy's gradient")
    }

    func testSoftmaxBackwardOfALongRowSumsItsProducts() {
        var rng = SeededGenerator(seed: 82)
        let classes = 1_000_003
        let y = randomFloats(classes, in: 0...1, using: &rng), dy = randomFloats(classes, in: 0...1, using: &rng)
        let dot = zip(dy, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let expected = zip(y, dy).map { Double($0) * (Double($1) - dot) }
        var dx = [Float](repeating: sentinel, count: classes)
        ck_softmax_backward(1, Int64(classes), y, dy, 0, &dx)
        assertClose(dx, expected, tolerance: ulps(3, of: expected))
    }

    func testLogSoftmaxOfALongRowAndItsGradient() {
        var rng = SeededGenerator(seed: 83)
        let classes = 1_000_003
        let z = randomFloats(classes, in: 0...1, using: &rng)
        let max = Double(z.max()!)
        let logSum = Foundation.log(z.reduce(0.0) { $0 + Foundation.exp(Double($1) - max) })
        let expected = z.map { (Double($0) - max) - logSum }
        var y = [Float](repeating: sentinel, count: classes)
        ck_log_softmax(1, Int64(classes), z, &y)
        assertClose(y, expected, tolerance: ulps(3, of: expected), "ck_log_softmax")
        // From y = log(1 / classes) everywhere: dx = dy - (the mean of dy).
        let uniform = [Float](repeating: Float(-Foundation.log(Double(classes))), count: classes)
        let dy = randomFloats(classes, in: 0...1, using: &rng)
        let share = Foundation.exp(Double(uniform[0])) * dy.reduce(0.0) { $0 + Double($1) }
        var dx = [Float](repeating: sentinel, count: classes)
        ck_log_softmax_backward(1, Int64(classes), uniform, dy, 0, &dx)
        assertClose(dx, dy.map { Double($0) - share }, tolerance: 4e-7, "ck_log_softmax_backward")
    }

    func testMultiMarginOfALongRowSumsItsMargins() {
        var rng = SeededGenerator(seed: 84)
        let classes = 1_000_003
        var x = randomFloats(classes, in: 0...1, using: &rng)
        x[0] = 0.5 // the label's score: every other margin 0.5 + x[j] is positive
        let margins = x.dropFirst().reduce(0.0) { $0 + Double(1 - x[0] + $1) }
        var dx = [Float](repeating: sentinel, count: classes), loss: Float = 0
        XCTAssertEqual(ck_multi_margin(1, Int64(classes), x, [0], &dx, &loss), 0)
        let expectedLoss = margins / Double(classes)
        assertClose([loss], [expectedLoss], tolerance: ulps(2, of: [expectedLoss]), "loss")
        let step = Double(1 / Float(classes)), labelGradient = -Double(classes - 1) * step
        assertClose([dx[0]], [labelGradient], tolerance: ulps(1, of: [labelGradient]), "the label's gradient")
    }

    func testAveragePoolingOfLongWindows() {
        // A window as long as the row: its mean by the clipped windows' loop.
        let ones = [Float](repeating: 1, count: longAxis)
        var mean: [Float] = [sentinel]
        let n = Int64(longAxis)
        ck_avg_pool2d_forward(1, 1, n, 1, n, 1, n, 0, 0, 1, 1, 1, ones, &mean)
        XCTAssertEqual(mean, [1], "one window of \(longAxis) ones")
        // Four whole windows of 1000 x 300 in a row: the grouped windows' loop.
        var rng = SeededGenerator(seed: 85)
        let (height, width, kernel) = (1000, 1200, 300)
        let x = randomFloats(height * width, in: 0...1, using: &rng)
        var expected = [Double](repeating: 0, count: 4)
        for i in 0..<height {
            for j in 0..<width { expected[j / kernel] += Double(x[i * width + j]) }
        }
        expected = expected.map { $0 / Double(height * kernel) }
        var y = [Float](repeating: sentinel, count: 4)
        ck_avg_pool2d_forward(1, Int64(height), Int64(width), Int64(height), Int64(kernel), 1, Int64(kernel),
                              0, 0, 1, 1, 4, x, &y)
        assertClose(y, expected, tolerance: ulps(1, of: expected), "four windows")
    }
}
