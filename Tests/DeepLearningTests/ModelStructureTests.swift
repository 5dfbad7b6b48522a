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

    /// A cycle made after `add`, by assigning a layer's property, stops the walk of the
    /// layers (`parameters`, `namedStateTensors`, `save`, ...) with the cycle's path.
    func testParametersStopAtACycleMadeAfterAdd() throws {
        try assertStops(withMessage: "Layer.layerTree: Model { Linear(2 → 2); Holder } is its own layer 1.inner, so running it or walking its layers would never end; a layer cannot hold itself, directly or through the layers it holds") {
            let holder = Holder(ReLU())
            let model = Model { Linear(2, 2); holder }
            holder.inner = model
            _ = model.parameters
        }
    }

    /// A cycle below the layer walked from is named by its path from there too.
    func testSaveStopsAtACycleBelowTheModel() throws {
        let path = try makeTemporaryDirectory().appendingPathComponent("model.safetensors").path
        try assertStops(withMessage: "Layer.layerTree: at path 1 of Model { Linear(2 → 2); Model { Holder } }, Model { Holder } is its own layer 0.inner, so running it or walking its layers would never end") {
            let holder = Holder(ReLU())
            let inner = Model { holder }
            let model = Model { Linear(2, 2); inner }
            holder.inner = inner
            try? model.save(to: path)
        }
    }

    /// Running a model below itself stops with the cycle's path where the model is called
    /// again, also on a sample shape it ran on before the cycle was made.
    func testForwardStopsAtACycleMadeAfterARun() throws {
        try assertStops(withMessage: "Model.callAsFunction: Model { Linear(2 → 2); Holder } is its own layer 1.inner, so running it or walking its layers would never end") {
            let holder = Holder(ReLU())
            let model = Model { Linear(2, 2); holder }
            _ = model.forward(Tensor(shape: [3, 2]))
            holder.inner = model
            _ = model.forward(Tensor(shape: [3, 2]))
        }
    }

    /// A model that calls itself through a closure (which reflection does not see) is not
    /// below itself: it runs, as often as the layer of one's own lets it.
    func testAModelMayCallItselfThroughAClosure() {
        final class Again: Layer {
            var calls = 0
            var call: ((Tensor) -> Tensor)?
            func callAsFunction(_ input: Tensor) -> Tensor {
                guard calls < 3, let call else { return input }
                calls += 1
                return call(input * 2)
            }
        }
        let again = Again()
        let model = Model { ReLU(); again }
        again.call = { [unowned model] in model($0) }
        let output = model.forward(Tensor(shape: [1, 2], values: [-1, 3]))
        XCTAssertEqual(output.values, [0, 24])
        XCTAssertEqual(again.calls, 3)
        XCTAssertEqual(model.parameters.count, 0)
    }
}
