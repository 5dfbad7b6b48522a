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

    /// An empty batch keeps the width of a sample, `[0, C·H·W]`, so the next `Linear` takes it.
    func testEmptyBatchKeepsTheSampleWidth() {
        let images = Tensor(shape: [0, 2, 3, 3])
        XCTAssertEqual(Flatten().forward(images).shape, [0, 18])
        XCTAssertEqual(Flatten()(images).shape, [0, 18])
        let model = Model {
            Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1, seed: 1)
            ReLU()
            MaxPool2D(kernelSize: 2)
            Flatten()
            Linear(2 * 2 * 2, 3, seed: 2)
        }
        let empty = Tensor(shape: [0, 1, 4, 4])
        XCTAssertEqual(model.predict(empty), [])
        XCTAssertEqual(model.probabilities(empty).shape, [0, 3])
        XCTAssertEqual(model.forward(empty).shape, [0, 3])
        XCTAssertEqual(model(empty).shape, [0, 3])
    }
}
