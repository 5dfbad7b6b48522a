import XCTest
@testable import DeepLearning

/// `Model.forward` runs a `Linear` followed by a `ReLU` as one fused kernel call; the results
/// must be those of the two layers run one after the other, bit for bit.
final class ForwardFusionTests: XCTestCase {
    func testFusedLinearReLUMatchesLayerByLayer() {
        var generator = SeededGenerator(seed: 21)
        let layers: [any Function] = [Linear(3, 17), ReLU(), Linear(17, 33), ReLU(), ReLU(),
                                      Linear(33, 4)]
        let model = Model(layers)
        model.initializeParameters(seed: 22)
        for batch in [1, 5, 20] {
            let x = randomTensor([batch, 3], in: -3..<3, using: &generator)
            let fused = model.forward(x).values
            let dy = randomTensor([batch, 4], using: &generator)
            model.backward(dy)
            let fusedGradients = model.parameters.map(\.gradients)

            for parameter in model.parameters { parameter.zeroGradient() }
            let layerByLayer = layers.reduce(x) { $1.forward($0) }.values
            _ = layers.reversed().reduce(dy) { $1.backward($0) }
            XCTAssertEqual(fused.map(\.bitPattern), layerByLayer.map(\.bitPattern), "batch \(batch)")
            XCTAssertEqual(model.parameters.map(\.gradients), fusedGradients, "batch \(batch)")
            for parameter in model.parameters { parameter.zeroGradient() }
        }
    }
}
