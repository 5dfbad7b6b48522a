import XCTest
@testable import DeepLearning

/// `Model` fuses each ReLU into the product of the `Linear` next to it (forward: a Linear then
/// a ReLU; backward: a ReLU then a Linear) and into the `Conv2D` before it; the results must
/// be those of the layers run one after the other, bit for bit.
final class FusionTests: XCTestCase {
    func testFusedLinearAndReLUMatchLayerByLayer() {
        assertFusedPassesMatchLayerByLayer(
            [Linear(3, 17), ReLU(), Linear(17, 33), ReLU(), ReLU(), Linear(33, 4)],
            sampleShape: [3], outputs: 4, batches: [1, 5, 20], seed: 21)
    }

    /// A Conv2D then a ReLU, first (whose input gradient training skips) and further in.
    func testFusedConv2DAndReLUMatchLayerByLayer() {
        assertFusedPassesMatchLayerByLayer(
            [Conv2D(inputChannels: 2, outputChannels: 3, kernelSize: 3, padding: 1), ReLU(),
             MaxPool2D(kernelSize: 2),
             Conv2D(inputChannels: 3, outputChannels: 4, kernelSize: 2, stride: 2), ReLU(),
             Flatten(), Linear(4 * 2 * 2, 5)],
            sampleShape: [2, 9, 8], outputs: 5, batches: [1, 3], seed: 23)
    }

    /// A model of `layers` (its parameters drawn with seed + 1) on random inputs of
    /// `sampleShape` and output gradients of `outputs` columns, at each batch size: its fused
    /// `forward`, `backward` and `accumulateParameterGradients` against the layers' own passes
    /// one after the other.
    private func assertFusedPassesMatchLayerByLayer(
        _ layers: [any Function], sampleShape: [Int], outputs: Int, batches: [Int], seed: UInt64,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        var generator = SeededGenerator(seed: seed)
        let model = Model(layers)
        model.initializeParameters(seed: seed + 1)
        func gradientBits() -> [[UInt32]] {
            model.parameters.map { $0.gradients.map(\.bitPattern) }
        }
        func zeroGradients() { for parameter in model.parameters { parameter.zeroGradient() } }
        for batch in batches {
            let x = randomTensor([batch] + sampleShape, in: -3..<3, using: &generator)
            let dy = randomTensor([batch, outputs], using: &generator)
            let fused = model.forward(x).values
            let fusedInputGradient = model.backward(dy).values
            let fusedGradients = gradientBits()
            zeroGradients()
            _ = model.forward(x)
            model.accumulateParameterGradients(dy)
            let fusedParameterGradients = gradientBits()

            zeroGradients()
            let layerByLayer = layers.reduce(x) { $1.forward($0) }.values
            let inputGradient = layers.reversed().reduce(dy) { $1.backward($0) }.values
            XCTAssertEqual(fused.map(\.bitPattern), layerByLayer.map(\.bitPattern),
                           "batch \(batch)", file: file, line: line)
            XCTAssertEqual(fusedInputGradient.map(\.bitPattern), inputGradient.map(\.bitPattern),
                           "batch \(batch)", file: file, line: line)
            XCTAssertEqual(gradientBits(), fusedGradients, "batch \(batch)", file: file, line: line)
            XCTAssertEqual(gradientBits(), fusedParameterGradients, "batch \(batch)", file: file,
                           line: line)
            zeroGradients()
        }
    }
}
