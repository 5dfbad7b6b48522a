import XCTest
@testable import DeepLearning

/// `Tensor.description`: the shape and the values, summarized beyond PyTorch's threshold.
final class TensorDescriptionTests: XCTestCase {
    /// The tensor of `shape` holding 0, 1, 2, ... in row-major order.
    private func counting(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape, values: (0..<count).map(Float.init))
    }

    func testShowsTheShapeAndTheValuesNestedByAxis() {
        XCTAssertEqual("\(Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 0.25]))",
                       "Tensor[2, 3] [[1.0, 2.0, 3.0], [4.0, 5.0, 0.25]]")
        XCTAssertEqual("\(Tensor(shape: [3], values: [-1, .nan, .infinity]))",
                       "Tensor[3] [-1.0, nan, inf]")
        XCTAssertEqual("\(Tensor(2.5))", "Tensor[] 2.5")
        XCTAssertEqual("\(Tensor(shape: [0, 3]))", "Tensor[0, 3] []")
        XCTAssertEqual("\(Tensor(shape: [2, 0]))", "Tensor[2, 0] [[], []]")
    }

    /// 1,000 elements are shown whole; beyond, each axis longer than 6 shows its first and
    /// last 3.
    func testSummarizesAboveAThousandElements() {
        XCTAssertEqual("\(counting([1000]))".components(separatedBy: ", ").count, 1000)
        XCTAssertEqual("\(counting([1001]))",
                       "Tensor[1001] [0.0, 1.0, 2.0, ..., 998.0, 999.0, 1000.0]")
        XCTAssertEqual("\(counting([1001, 1]))",
                       "Tensor[1001, 1] [[0.0], [1.0], [2.0], ..., [998.0], [999.0], [1000.0]]")
        XCTAssertEqual("\(counting([2, 2, 251]))",
                       "Tensor[2, 2, 251] [[[0.0, 1.0, 2.0, ..., 248.0, 249.0, 250.0], [251.0, 252.0, 253.0, ..., 499.0, 500.0, 501.0]], [[502.0, 503.0, 504.0, ..., 750.0, 751.0, 752.0], [753.0, 754.0, 755.0, ..., 1001.0, 1002.0, 1003.0]]]")
    }

    /// An empty tensor of many rows is summarized as a full one would be, instead of listing
    /// each row (which, for 2^40 rows, could not even be allocated).
    func testAnEmptyTensorOfManyRowsIsSummarized() {
        XCTAssertEqual("\(Tensor(shape: [1 << 40, 0]))",
                       "Tensor[1099511627776, 0] [[], [], [], ..., [], [], []]")
        XCTAssertEqual("\(Tensor(shape: [2, 0, 1001]))", "Tensor[2, 0, 1001] [[], []]")
    }

    /// A large tensor's description shows 7 × 7 values, whatever its size.
    func testALargeTensorsDescriptionIsShort() {
        let description = "\(Tensor(shape: [100_000, 100]))"
        XCTAssertEqual(description.components(separatedBy: "0.0").count - 1, 36)
        XCTAssertTrue(description.hasPrefix("Tensor[100000, 100] [[0.0, 0.0, 0.0, ..., 0.0, 0.0, 0.0], "))
    }
}
