import XCTest
@testable import DeepLearning

/// Sums, means, maxima and the shape operations: values, gradients against finite
/// differences, PyTorch's edge cases (ties of max), views versus copies, and shape errors.
final class ReductionAndShapeOperationTests: XCTestCase {
    private var generator = SeededGenerator(seed: 9)

    private func input(_ shape: [Int], _ range: Range<Float> = -1..<1) -> Tensor {
        differentiableTensor(shape, in: range, using: &generator)
    }

    /// Distinct values (no ties) in a random order, so that finite differences see one maximum.
    private func distinct(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        let values = (0..<count).map { Float($0) * 0.1 - 1 }.shuffled(using: &generator)
        return Tensor(shape: shape, values: values, requiresGradient: true)
    }

    func testSumsAndMeans() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.sum().values, [21])
        XCTAssertEqual(x.sum().shape, [])
        XCTAssertEqual(x.mean().values, [3.5])
        XCTAssertEqual(x.sum(alongAxis: 0).values, [5, 7, 9])
        XCTAssertEqual(x.sum(alongAxis: 1).values, [6, 15])
        XCTAssertEqual(x.sum(alongAxis: -1, keepingAxis: true).shape, [2, 1])
        XCTAssertEqual(x.mean(alongAxis: 0).values, [2.5, 3.5, 4.5])
        // Along an empty axis: sums of no terms are 0; their means, as mean() of nothing, NaN.
        let empty = Tensor(shape: [2, 0])
        XCTAssertEqual(empty.sum(alongAxis: 1).values, [0, 0])
        XCTAssertEqual(empty.mean(alongAxis: 1).values.map(\.isNaN), [true, true])
        XCTAssertTrue(empty.mean().scalar.isNaN)
        // The mean divides the Double sum before rounding: finite where the Float sum is not.
        let (big, near): (Float, Float) = (.greatestFiniteMagnitude, 3e38)
        let large = Tensor(shape: [2, 2], values: [big, big, near, near])
        XCTAssertEqual(large.sum().scalar, .infinity)
        XCTAssertEqual(large.mean().scalar, Float((Double(big) + Double(near)) / 2))
        XCTAssertEqual(large.mean(alongAxis: 1).values, [big, near])
        XCTAssertEqual(empty.sum(alongAxis: 0).shape, [0])
        for shape in [[5], [3, 4], [2, 3, 4]] {
            try gradientCheck(at: [input(shape)]) { $0[0].sum() }
            try gradientCheck(at: [input(shape)]) { $0[0].mean() }
            for axis in 0..<shape.count {
                for keep in [false, true] {
                    try gradientCheck(at: [input(shape)]) { $0[0].sum(alongAxis: axis, keepingAxis: keep) }
                    try gradientCheck(at: [input(shape)]) { $0[0].mean(alongAxis: axis, keepingAxis: keep) }
                }
            }
        }
    }

    func testMaxima() throws {
        let x = Tensor(shape: [2, 3], values: [1, 5, 3, 4, 2, 6])
        XCTAssertEqual(x.max().values, [6])
        let (values, indices) = x.max(alongAxis: 1)
        XCTAssertEqual(values.values, [5, 6])
        XCTAssertEqual(indices, [1, 2])
        XCTAssertEqual(x.max(alongAxis: 0, keepingAxis: true).values.shape, [1, 3])
        for shape in [[7], [3, 4], [2, 3, 4]] {
            try gradientCheck(at: [distinct(shape)]) { $0[0].max() }
            for axis in 0..<shape.count {
                try gradientCheck(at: [distinct(shape)]) { $0[0].max(alongAxis: axis).values }
            }
        }
    }

    func testMaxOfAllSplitsTheGradientBetweenTiesAndMaxAlongAnAxisSendsItToTheIndex() {
        let x = Tensor(shape: [2, 2], values: [3, 1, 3, 3], requiresGradient: true)
        x.max().backward()
        XCTAssertEqual(x.gradients, [1.0 / 3, 0, 1.0 / 3, 1.0 / 3])
        x.zeroGradient()
        let (values, indices) = x.max(alongAxis: 0)
        XCTAssertEqual(indices, [0, 1])
        values.backward(Tensor(shape: [2], values: [1, 2]))
        XCTAssertEqual(x.gradients, [1, 0, 0, 2])
    }

    /// Ties far apart (in different vector lanes and different threads' ranges) share the
    /// gradient; along an axis, the first of them takes it.
    func testMaxOfALongTensorSplitsTheGradientBetweenDistantTies() {
        var values = (0..<70_001).map { Float($0 % 1000) / 1000 - 1 }
        let ties = [3, 35_000, 70_000]
        for j in ties { values[j] = 0.5 }
        let x = Tensor(shape: [70_001], values: values, requiresGradient: true)
        let maximum = x.max()
        XCTAssertEqual(maximum.scalar, 0.5)
        maximum.backward()
        XCTAssertEqual(ties.map { x.gradients[$0] }, [1.0 / 3, 1.0 / 3, 1.0 / 3])
        XCTAssertEqual(x.gradients.filter { $0 != 0 }.count, 3)
        x.zeroGradient()
        let (along, indices) = x.max(alongAxis: 0)
        XCTAssertEqual(indices, [3])
        along.backward()
        XCTAssertEqual(x.gradients[3], 1)
        XCTAssertEqual(x.gradients.filter { $0 != 0 }.count, 1)
    }

    func testReshapedAndRowsAreViews() throws {
        let x = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6])
        let r = x.reshaped([2, -1])
        XCTAssertEqual(r.shape, [2, 3])
        XCTAssertEqual(r.value, x.value) // no copy
        let rows = x.rows(1..<3)
        XCTAssertEqual(rows.values, [3, 4, 5, 6])
        XCTAssertEqual(rows.value, x.value + 2)
        rows.withUnsafeMutableBufferPointer { $0[0] = 30 }
        XCTAssertEqual(x.values, [1, 2, 30, 4, 5, 6])
        XCTAssertEqual(r.version, 1)
        try gradientCheck(at: [input([3, 4])]) { sin($0[0].reshaped([2, 6])) }
        try gradientCheck(at: [input([4, 3])]) { sin($0[0].rows(1..<3)) }
        try gradientCheck(at: [input([4, 3])]) { $0[0].rows(0..<2) * $0[0].rows(2..<4) }
    }

    func testTransposed() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(x.transposed().shape, [3, 2])
        XCTAssertEqual(x.transposed().values, [1, 4, 2, 5, 3, 6])
        try gradientCheck(at: [input([3, 4])]) { sin($0[0].transposed()) }
        try gradientCheck(at: [input([2, 3, 5])]) { sin($0[0].transposed()) }
        try gradientCheck(at: [input([3, 3])]) { $0[0] * $0[0].transposed() }
    }

    func testConcatenate() throws {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), b = Tensor(shape: [2, 1], values: [5, 6])
        XCTAssertEqual(concatenate([a, b], alongAxis: 1).values, [1, 2, 5, 3, 4, 6])
        XCTAssertEqual(concatenate([a, a], alongAxis: 0).values, [1, 2, 3, 4, 1, 2, 3, 4])
        try gradientCheck(at: [input([2, 3]), input([2, 1]), input([2, 2])]) {
            sin(concatenate($0, alongAxis: -1))
        }
        try gradientCheck(at: [input([1, 3, 2]), input([2, 3, 2])]) { sin(concatenate($0, alongAxis: 0)) }
        let shared = input([2, 2])
        try gradientCheck(at: [shared]) { concatenate([$0[0], $0[0] * $0[0]], alongAxis: 0) }
    }

    func testGatheringRows() throws {
        let table = Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6], requiresGradient: true)
        let gathered = table.gatheringRows([2, 0, 2])
        XCTAssertEqual(gathered.values, [5, 6, 1, 2, 5, 6])
        gathered.backward(Tensor(shape: [3, 2], values: [1, 1, 2, 2, 3, 3]))
        XCTAssertEqual(table.gradients, [2, 2, 0, 0, 4, 4])
        try gradientCheck(at: [input([5, 3])]) { sin($0[0].gatheringRows([4, 1, 1, 0])) }
    }

    // One stop per test: assertStops runs the test again in a child process.

    func testReshapingToAnotherCountStops() throws {
        try assertStops(withMessage: "reshaped: shape [2, 3] (6 elements) cannot be viewed as [4, -1]") {
            _ = Tensor(shape: [2, 3]).reshaped([4, -1])
        }
    }

    func testAnAxisOutsideTheShapeStops() throws {
        try assertStops(withMessage: "sum: axis 2 is outside the 2 axes of shape [2, 3]") {
            _ = Tensor(shape: [2, 3]).sum(alongAxis: 2)
        }
    }

    func testConcatenatingMismatchedShapesStops() throws {
        try assertStops(withMessage: "concatenate: shapes [[2, 3], [3, 3]] differ elsewhere than along axis 1") {
            _ = concatenate([Tensor(shape: [2, 3]), Tensor(shape: [3, 3])], alongAxis: 1)
        }
    }

    func testGatheringARowOutsideTheTableStops() throws {
        try assertStops(withMessage: "gatheringRows: index 3 at position 1 is outside the 3 rows of shape [3, 2]") {
            _ = Tensor(shape: [3, 2]).gatheringRows([0, 3])
        }
    }
}
