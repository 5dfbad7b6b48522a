import XCTest
@testable import DeepLearning

/// `Model` fuses each ReLU into the product of the `Linear` next to it (forward: a Linear then
/// a ReLU; backward: a ReLU then a Linear) and into the `Conv2D` before it; the results must
/// be those of the layers run one after the other, bit for bit.
final class FusionTests: XCTestCase {
    func testFusedLinearAndReLUMatchLayerByLayer() {
        var generator = SeededGenerator(seed: 21)
        let layers: [any Function] = [Linear(3, 17), ReLU(), Linear(17, 33), ReLU(), ReLU(),
                                      Linear(33, 4)]
        let model = Model(layers)
        model.initializeParameters(seed: 22)
        for batch in [1, 5, 20] {
            let x = randomTensor([batch, 3], in: -3..<3, using: &generator)
            let fused = model.forward(x).values
            let dy = randomTensor([batch, 4], using: &generator)
            let fusedInputGradient = model.backward(dy).values
            let fusedGradients = model.parameters.map(\.gradients)

            for parameter in model.parameters { parameter.zeroGradient() }
            let layerByLayer = layers.reduce(x) { $1.forward($0) }.values
            let inputGradient = layers.reversed().reduce(dy) { $1.backward($0) }.values
            XCTAssertEqual(fused.map(\.bitPattern), layerByLayer.map(\.bitPattern), "batch \(batch)")
            XCTAssertEqual(fusedInputGradient.map(\.bitPattern), inputGradient.map(\.bitPattern),
                           "batch \(batch)")
            XCTAssertEqual(model.parameters.map(\.gradients), fusedGradients, "batch \(batch)")
            for parameter in model.parameters { parameter.zeroGradient() }
        }
    }

    /// A Conv2D then a ReLU, first (whose input gradient training skips) and further in.
    func testFusedConv2DAndReLUMatchLayerByLayer() {
        var generator = SeededGenerator(seed: 23)
        let layers: [any Function] = [
            Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1), ReLU(),
            MaxPool2D(kernelSize: 2),
            Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 2, stride: 2), ReLU(),
            Flatten(), Linear(4 * 2 * 2, 5),
        ]
        let model = Model(layers)
        model.initializeParameters(seed: 24)
        for batch in [1, 3] {
            let x = randomTensor([batch, 2, 9, 8], in: -3..<3, using: &generator)
            let fused = model.forward(x).values
            let dy = randomTensor([batch, 5], using: &generator)
            let fusedInputGradient = model.backward(dy).values
            let fusedGradients = model.parameters.map(\.gradients)
            for parameter in model.parameters { parameter.zeroGradient() }
            _ = model.forward(x)
            model.accumulateParameterGradients(dy)
            let fusedParameterGradients = model.parameters.map(\.gradients)

            for parameter in model.parameters { parameter.zeroGradient() }
            let layerByLayer = layers.reduce(x) { $1.forward($0) }.values
            let inputGradient = layers.reversed().reduce(dy) { $1.backward($0) }.values
            XCTAssertEqual(fused.map(\.bitPattern), layerByLayer.map(\.bitPattern), "batch \(batch)")
            XCTAssertEqual(fusedInputGradient.map(\.bitPattern), inputGradient.map(\.bitPattern),
                           "batch \(batch)")
            let gradients = model.parameters.map(\.gradients)
            XCTAssertEqual(gradients.map { $0.map(\.bitPattern) },
                           fusedGradients.map { $0.map(\.bitPattern) }, "batch \(batch)")
            XCTAssertEqual(gradients.map { $0.map(\.bitPattern) },
                           fusedParameterGradients.map { $0.map(\.bitPattern) }, "batch \(batch)")
            for parameter in model.parameters { parameter.zeroGradient() }
        }
    }
}
