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

    /// Backward checks the gradient against the last output's shape, as every layer does:
    /// one of the right count but another shape, or one before any forward pass, stops.
    func testBackwardStopsOnAGradientOfAnotherShape() throws {
        try assertStops(withMessage: "Flatten: output gradient of shape [4, 1] does not match the last output's shape [1, 4]") {
            let flatten = Flatten()
            _ = flatten.forward(Tensor(shape: [1, 2, 2]))
            _ = flatten.backward(Tensor(shape: [4, 1]))
        }
    }

    func testBackwardBeforeForwardStops() throws {
        try assertStops(withMessage: "Flatten: backward called before forward") {
            _ = Flatten().backward(Tensor(shape: [1, 1]))
        }
    }

    /// An empty batch keeps the width of a sample, `[0, C·H·W]`, so the next `Linear` takes it
    /// (a CNN on an empty batch: `ConvolutionLayerTests`).
    func testEmptyBatchKeepsTheSampleWidth() {
        let images = Tensor(shape: [0, 2, 3, 3])
        XCTAssertEqual(Flatten().forward(images).shape, [0, 18])
        XCTAssertEqual(Flatten()(images).shape, [0, 18])
    }
}
