import XCTest
@testable import DeepLearning

final class FlattenTests: XCTestCase {
    func testFlattenKeepsRowMajorOrderAndBackwardRestoresTheShape() {
        let flatten = Flatten()
        let x = Tensor(shape: [2, 3, 2], values: (0..<12).map(Float.init))
        let y = flatten.forward(x)
        XCTAssertEqual(y.shape, [2, 6])
        XCTAssertEqual(y.values, x.values)
        let dx = flatten.backward(Tensor(shape: [2, 6], values: (0..<12).map { Float($0) * 2 }))
        XCTAssertEqual(dx.shape, [2, 3, 2])
        XCTAssertEqual(dx.values, (0..<12).map { Float($0) * 2 })
    }
}
