// Sums along a long axis, and the gradient of an operand broadcast along one, count every
// term: each is summed in Double and rounded to Float once (a running Float sum of 2^24 + 5
// ones stops at 2^24 = 16777216).
import DeepLearning
import XCTest

final class LongAxisSumTests: XCTestCase {
    private let n = (1 << 24) + 5

    func testSumAndMeanAlongALongAxis() {
        let x = Tensor(shape: [1, n], values: [Float](repeating: 1, count: n))
        XCTAssertEqual(x.sum(alongAxis: 1).values, [Float(Double(n))])
        XCTAssertEqual(x.mean(alongAxis: 1).values, [1])
        XCTAssertEqual(x.sum(alongAxis: 1).values, [x.sum().scalar], "as the sum of all elements")
    }

    func testTheGradientOfAScalarBroadcastAlongALongAxis() {
        let x = Tensor(shape: [1, n], values: [Float](repeating: 0, count: n))
        let b = Tensor(shape: [1], values: [0], requiresGradient: true)
        (x + b).backward(Tensor(shape: [1, n], values: [Float](repeating: 1, count: n)))
        XCTAssertEqual(b.gradients, [Float(Double(n))])
    }
}
