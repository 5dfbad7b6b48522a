import XCTest
@testable import DeepLearning

/// Changes below a model after it was built and ran: a layer added to a model that a layer of
/// one's own keeps, and cycles made by assigning to a layer's property.
final class ModelStructureTests: XCTestCase {
    /// A layer of one's own that keeps a model and calls it.
    final class Holder: Layer {
        var inner: any Layer
        init(_ inner: any Layer) { self.inner = inner }
        func callAsFunction(_ input: Tensor) -> Tensor { inner(input) }
    }

    /// A layer added to a model that a layer of one's own keeps, after the outer model ran on
    /// the same sample shape, is named as on a first run: by the position of the layer of
    /// one's own in the outer model, and by "Model.forward" (not by the kept model's own
    /// positions, as "Model.callAsFunction: layer 1").
    func testForwardNamesALayerOfYourOwnWhoseModelGotALayerAfterARun() throws {
        try assertStops(withMessage: "Model.forward: layer 1 of the model, Holder, cannot take what the input of shape [6, 2] gives it, shape [6, 3]; the layer says: Linear(4 → 2): input of shape [6, 3] does not fit; expected [batch, 4]") {
            let inner = Model { ReLU() }
            let model = Model { Linear(2, 3); Holder(inner) }
            _ = model.forward(Tensor(shape: [6, 2]))
            inner.add(Linear(4, 2))
            _ = model.forward(Tensor(shape: [6, 2]))
        }
    }
}
