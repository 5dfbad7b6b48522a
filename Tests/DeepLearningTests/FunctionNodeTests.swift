import XCTest
@testable import DeepLearning

/// The node that records a call of a `Function` without a graph form of its own
/// (`FunctionNode`): what it checks of the function's backward pass.
final class FunctionNodeTests: XCTestCase {
    /// A backward pass returning a gradient of another shape than the input's stops, rather
    /// than be added into the input's gradient past its end.
    func testInputGradientOfAnotherShapeStops() throws {
        try assertStops(withMessage: "backward: Scaling returned an input gradient of shape [1, 2] for its input of shape [4, 8]") {
            let layer = Scaling(reusesOutput: false)
            layer.returnedShape = [1, 2]
            let x = Tensor(shape: [4, 8])
            x.requiresGradient = true
            layer(x).sum().backward()
        }
    }
}
