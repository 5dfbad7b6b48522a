import XCTest
@testable import DeepLearning

/// `BatchNorm`: gradients, both modes, running statistics, PyTorch's numbers, shape checks,
/// and training inside a model.
final class BatchNormTests: XCTestCase {
    /// A layer with γ and β drawn at random (the defaults 1 and 0 would hide mistakes).
    private func randomLayer(features: Int, using generator: inout SeededGenerator) -> BatchNorm {
        let layer = BatchNorm(features: features)
        layer.weight.value.update(from: randomTensor([features], in: 0.5..<2, using: &generator).values,
                                  count: features)
        layer.bias.value.update(from: randomTensor([features], using: &generator).values,
                                count: features)
        return layer
    }

    /// dx, dγ and dβ against central finite differences of the weighted sum, in which x
    /// enters through the batch statistics too (training) or only through the affine map.
    private func checkGradients(shape: [Int], training: Bool, seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let layer = randomLayer(features: shape[1], using: &generator)
        layer.runningVariance.value.update(repeating: 0.7, count: shape[1])
        layer.setTraining(training)
        let x = randomTensor(shape, in: -1..<2, using: &generator)
        let dy = randomTensor(shape, using: &generator)
        let loss = { weightedSum(layer.forward(x), dy) }
        _ = layer.forward(x)
        let dx = layer.backward(dy).values
        let what = "\(shape) \(training ? "training" : "evaluation")"
        assertClose(dx, numericalGradient(of: loss, at: x.value, count: x.count, step: 1e-3),
                    tolerance: 3e-3, "dx " + what)
        assertClose(layer.weight.gradients,
                    numericalGradient(of: loss, at: layer.weight.value, count: shape[1], step: 1e-3),
                    tolerance: 3e-3, "dγ " + what)
        assertClose(layer.bias.gradients,
                    numericalGradient(of: loss, at: layer.bias.value, count: shape[1], step: 1e-3),
                    tolerance: 3e-3, "dβ " + what)
    }

    func testBackwardMatchesFiniteDifferences() {
        for (index, shape) in [[6, 3], [2, 1], [5, 4, 1, 1], [3, 2, 3, 5]].enumerated() {
            checkGradients(shape: shape, training: true, seed: UInt64(index))
            checkGradients(shape: shape, training: false, seed: UInt64(10 + index))
        }
    }

    /// Evaluation normalizes with the running statistics: y = γ (x − mean) / √(var + eps) + β,
    /// var + eps = 4 and 0.25 exactly (eps 2⁻¹⁰).
    func testEvaluationUsesTheRunningStatistics() {
        let eps: Float = 1.0 / 1024
        let layer = BatchNorm(features: 2, eps: eps)
        layer.runningMean.value.update(from: [1, -2], count: 2)
        layer.runningVariance.value.update(from: [4 - eps, 0.25 - eps], count: 2)
        layer.weight.value.update(from: [3, 1], count: 2)
        layer.bias.value.update(from: [0.5, -1], count: 2)
        layer.setTraining(false)
        let y = layer.forward(Tensor(shape: [2, 2], values: [5, -2, -1, -1]))
        // (5 − 1) / 2 · 3 + 0.5, (−2 + 2) / 0.5 − 1, (−1 − 1) / 2 · 3 + 0.5, (−1 + 2) / 0.5 − 1
        XCTAssertEqual(y.values, [6.5, -1, -2.5, 1])
        XCTAssertEqual(layer.runningMean.values, [1, -2], "evaluation leaves them unchanged")
        XCTAssertEqual(layer.runningVariance.values, [4 - eps, 0.25 - eps])
    }

    /// Two training steps on one feature: x = (1, 3) has mean 2 and unbiased variance 2, so
    /// mean 0.2 and variance 0.9 · 1 + 0.1 · 2 = 1.1; then x = (0, 4, 8), mean 4 and unbiased
    /// variance 16: mean 0.9 · 0.2 + 0.4 = 0.58 and variance 0.9 · 1.1 + 1.6 = 2.59.
    func testRunningStatisticsAfterTwoTrainingSteps() {
        let layer = BatchNorm(features: 1)
        _ = layer.forward(Tensor(shape: [2, 1], values: [1, 3]))
        XCTAssertEqual(layer.runningMean.values[0], 0.2, accuracy: 1e-6)
        XCTAssertEqual(layer.runningVariance.values[0], 1.1, accuracy: 1e-6)
        let y = layer.forward(Tensor(shape: [3, 1], values: [0, 4, 8]))
        XCTAssertEqual(layer.runningMean.values[0], 0.58, accuracy: 1e-6)
        XCTAssertEqual(layer.runningVariance.values[0], 2.59, accuracy: 1e-6)
        // Normalized with the batch's biased variance 32 / 3.
        let scale = 1 / (32.0 / 3 + 1e-5).squareRoot()
        assertClose(y.values, [-4 * scale, 0, 4 * scale], tolerance: 1e-6, "y")
    }

    /// Numbers from PyTorch 2.15 (torch.nn.BatchNorm1d(3) and BatchNorm2d(2) with the same
    /// γ, β and inputs; see the script in the comment below).
    ///
    /// ```python
    /// bn = torch.nn.BatchNorm1d(3); bn.weight = [1.5, -0.5, 2]; bn.bias = [0.1, 0.2, -0.3]
    /// bn.train(); bn(x1); y2 = bn(x2); y2.backward(dy)   # y2, x2.grad, weight/bias grads
    /// bn.running_mean, bn.running_var; bn.eval(); bn(x1)
    /// bn2 = torch.nn.BatchNorm2d(2); bn2.weight = [0.7, 1.3]; bn2.bias = [-0.2, 0.4]
    /// y = bn2(x); y.backward(dy); bn2.eval(); bn2(x)
    /// ```
    func testMatchesPyTorch() {
        let bn = BatchNorm(features: 3)
        bn.weight.value.update(from: [1.5, -0.5, 2], count: 3)
        bn.bias.value.update(from: [0.1, 0.2, -0.3], count: 3)
        let x1 = Tensor(shape: [5, 3], values: [0.5, -1, 2, 1.5, 0.25, -0.5, -0.75, 2, 1, 2, -0.5, 0,
                                                 0, 1, 3])
        let x2 = Tensor(shape: [4, 3], values: [1, 0, -1, 3, -2, 0.5, -1, 1.5, 2.5, 0.5, 0.5, 0.5])
        let dy = Tensor(shape: [4, 3], values: [0.3, -0.2, 0.1, 1, 0.5, -0.4, -0.6, 0.2, 0.9, 0.25,
                                                -1, 0.3])
        _ = bn.forward(x1)
        assertClose(bn.forward(x2).values, [
            0.23105531930923462, 0.20000000298023224, -2.9130899906158447, 2.327939987182617,
            0.9844621419906616, -0.5010069608688354, -1.8658294677734375, -0.3883466124534607,
            2.7151036262512207, -0.2931658625602722, 0.0038844645023345947, -0.5010069608688354,
        ], tolerance: 1e-5, "1d y")
        assertClose(bn.backward(dy).values, [
            0.014406358823180199, 0.029417332261800766, 0.44830211997032166, -0.06962506473064423,
            -0.10032151639461517, -0.9550877809524536, -0.1112506315112114, -0.23609226942062378,
            0.33623450994491577, 0.1664694845676422, 0.3069964647293091, 0.17055100202560425,
        ], tolerance: 1e-5, "1d dx")
        assertClose(bn.weight.gradients, [2.2323083877563477, -0.9413546323776245, 1.2361924648284912],
                    tolerance: 1e-5, "1d dγ")
        assertClose(bn.bias.gradients, [0.9499999284744263, -0.5, 0.9000000357627869],
                    tolerance: 1e-5, "1d dβ")
        assertClose(bn.runningMean.values, [0.1459999978542328, 0.03150000050663948, 0.1615000069141388],
                    tolerance: 1e-6, "1d running mean")
        assertClose(bn.runningVariance.values, [1.194291591644287, 1.1549166440963745, 1.2007499933242798],
                    tolerance: 1e-6, "1d running var")
        bn.setTraining(false)
        assertClose(bn.forward(x1).values, [
            0.5858895182609558, 0.6799125075340271, 3.0555639266967773, 1.958458662033081,
            0.09834136813879013, -1.5073459148406982, -1.129822015762329, -0.7158582210540771,
            1.2303999662399292, 2.6447432041168213, 0.4472840428352356, -0.594763994216919,
            -0.1003950983285904, -0.25060129165649414, 4.880727767944336,
        ], tolerance: 1e-5, "1d evaluation")

        let bn2 = BatchNorm(features: 2)
        bn2.weight.value.update(from: [0.7, 1.3], count: 2)
        bn2.bias.value.update(from: [-0.2, 0.4], count: 2)
        let x = Tensor(shape: [2, 2, 2, 3], values: [
            -0.800000011920929, -0.4300000071525574, -0.06000000238418579, 0.3100000023841858,
            0.6800000071525574, 1.0499999523162842, -0.47999995946884155, -0.10999983549118042,
            0.2600000500679016, 0.6299999356269836, 1.0, -0.5299997925758362, -0.15999990701675415,
            0.20999997854232788, 0.5800003409385681, 0.9500002264976501, -0.5799998641014099,
            -0.20999997854232788, 0.15999990701675415, 0.5300002694129944, 0.9000001549720764,
            -0.6299999356269836, -0.2599995732307434, 0.11000031232833862,
        ])
        let dy2 = Tensor(shape: [2, 2, 2, 3], values: [
            -0.5, 0.029999971389770508, 0.559999942779541, -0.010000109672546387, 0.5199998617172241,
            -0.05000019073486328, 0.4799997806549072, -0.09000027179718018, 0.43999969959259033,
            -0.13000059127807617, 0.39999961853027344, -0.17000019550323486, 0.35999953746795654,
            -0.21000075340270996, 0.31999945640563965, -0.25000035762786865, 0.27999937534332275,
            -0.29000091552734375, 0.23999881744384766, -0.33000051975250244, 0.19999921321868896,
            -0.37000107765197754, 0.15999960899353027, -0.41000068187713623,
        ])
        assertClose(bn2.forward(x).values, [
            -1.3282148838043213, -0.878549337387085, -0.4288838803768158, 0.0207816231995821,
            0.4704471230506897, 0.9201125502586365, -1.0998060703277588, -0.19256626069545746,
            0.7146729826927185, 1.6219122409820557, 2.5291519165039062, -1.2224055528640747,
            -0.5504149794578552, -0.10074961930513382, 0.34891632199287415, 0.7985816597938538,
            -1.060845971107483, -0.6111806631088257, 0.4694727659225464, 1.3767131567001343,
            2.283952474594116, -1.4676058292388916, -0.5603654384613037, 0.34687381982803345,
        ], tolerance: 1e-5, "2d y")
        assertClose(bn2.backward(dy2).values, [
            -0.5999283790588379, 0.010429809801280499, 0.6207880973815918, -0.10569702833890915,
            0.5046612024307251, -0.22182387113571167, 1.2853140830993652, -0.22978202998638153,
            0.9523207545280457, -0.5627758502960205, 0.6193273663520813, -0.2926126718521118,
            0.38684871792793274, -0.3396366834640503, 0.27072182297706604, -0.45576298236846924,
            0.327942430973053, -0.39854294061660767, 0.49366384744644165, -1.021430492401123,
            0.1606716364622116, -0.7512695789337158, 0.4308348000049591, -1.0842617750167847,
        ], tolerance: 1e-5, "2d dx")
        assertClose(bn2.weight.gradients, [0.5188806056976318, 0.8236821889877319],
                    tolerance: 1e-5, "2d dγ")
        assertClose(bn2.bias.gradients, [0.7599958181381226, 0.41999340057373047],
                    tolerance: 1e-5, "2d dβ")
        assertClose(bn2.runningMean.values, [0.012833339162170887, 0.013166680000722408],
                    tolerance: 1e-6, "2d running mean")
        assertClose(bn2.runningVariance.values, [0.9361906051635742, 0.9306632876396179],
                    tolerance: 1e-6, "2d running var")
        bn2.setTraining(false)
        assertClose(bn2.forward(x).values, [
            -0.7880511283874512, -0.5203714966773987, -0.2526918947696686, 0.014987713657319546,
            0.282667338848114, 0.5503469109535217, -0.26456642150878906, 0.23402704298496246,
            0.7326201796531677, 1.2312133312225342, 1.729806661605835, -0.33194366097450256,
            -0.3250376880168915, -0.05735814571380615, 0.21032172441482544, 0.47800126671791077,
            -0.6288901567459106, -0.3612106442451477, 0.5978650450706482, 1.0964587926864624,
            1.5950520038604736, -0.4666987955570221, 0.031894974410533905, 0.530488133430481,
        ], tolerance: 1e-5, "2d evaluation")
    }

    /// `Model` switches the layer: `predict` normalizes with the running statistics (and leaves
    /// them alone), `forward` in training mode with the batch's.
    func testModelSwitchesBetweenTrainingAndEvaluation() {
        let layer = BatchNorm(features: 2)
        layer.weight.value.update(from: [1, 2], count: 2)
        let model = Model { layer }
        let x = Tensor(shape: [2, 2], values: [10, 0, 12, 5])
        // Evaluation (mean 0, variance 1): rows ≈ (10, 0), (12, 10): class 0 both.
        // Training: rows (−1, −2), (1, 2): classes 0, 1.
        XCTAssertEqual(model.predict(x), [0, 0])
        XCTAssertEqual(layer.runningMean.values, [0, 0])
        XCTAssertTrue(model.isTraining && layer.isTraining, "predict restores training mode")
        assertClose(model.forward(x).values, [-1, -2, 1, 2], tolerance: 1e-5, "training")
        assertClose(layer.runningMean.values, [1.1, 0.25], tolerance: 1e-6, "updated")
        model.isTraining = false
        XCTAssertFalse(layer.isTraining)
        model.isTraining = true
        XCTAssertTrue(layer.isTraining)
    }

    /// Linear → BatchNorm → ReLU → Linear learns the spiral, allocating nothing after the
    /// first epoch.
    func testSmallNetworkTrains() throws {
        let (inputs, labels) = spiral(pointsPerClass: 50, classes: 3, seed: 4)
        let model = Model { Linear(2, 32); BatchNorm(features: 32); ReLU(); Linear(32, 3) }
        model.initializeParameters(seed: 5)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        var allocations: [Int] = []
        let history = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 30,
                                    batchSize: 16) { _ in
            allocations.append(BufferPool.allocations.load(ordering: .relaxed))
        }
        XCTAssertLessThan(history.last!, history.first! / 2, "\(history)")
        XCTAssertEqual(allocations.dropFirst().first, allocations.last, "\(allocations)")
        XCTAssertGreaterThan(try model.accuracy(inputs, labels: labels), 0.8)
    }

    func testInitializeParametersResetsTheStatistics() {
        let layer = BatchNorm(features: 2)
        layer.weight.value[0] = 3
        _ = layer.forward(Tensor(shape: [2, 2], values: [1, 2, 3, 5]))
        let model = Model { layer }
        model.initializeParameters(seed: 1)
        XCTAssertEqual(layer.weight.values + layer.bias.values, [1, 1, 0, 0])
        XCTAssertEqual(layer.runningMean.values + layer.runningVariance.values, [0, 0, 1, 1])
        XCTAssertEqual(layer.batchesTracked.value, 0)
    }

    /// `num_batches_tracked` as PyTorch counts it: one per forward pass in training mode,
    /// none in evaluation (`predict`), one per batch in `fit`.
    func testCountsTheTrainingBatches() throws {
        let layer = BatchNorm(features: 2)
        let model = Model { Linear(2, 2); layer }
        XCTAssertEqual(layer.batchesTracked.value, 0)
        let x = Tensor(shape: [3, 2], values: [1, 2, 3, 5, 0, 1])
        _ = model.forward(x)
        _ = model.forward(x)
        XCTAssertEqual(layer.batchesTracked.value, 2)
        _ = model.predict(x)
        XCTAssertEqual(layer.batchesTracked.value, 2, "evaluation does not count")
        XCTAssertEqual(model.layers.last?.namedCounters.map(\.name), ["num_batches_tracked"])
        let (inputs, labels) = spiral(pointsPerClass: 10, classes: 2, seed: 1)   // 20 samples
        _ = try model.fit(inputs, labels: labels, optimizer: SGD(parameters: model.parameters,
                                                                 learningRate: 0.01),
                          epochs: 3, batchSize: 8)   // batches of 8, 8, 4
        XCTAssertEqual(layer.batchesTracked.value, 2 + 3 * 3)
    }

    func testWrongFeatureCountStops() throws {
        try assertStops(withMessage: "BatchNorm(3): input of shape [4, 2] does not fit; expected [batch, 3] or [batch, 3, height, width]") {
            _ = BatchNorm(features: 3).forward(Tensor(shape: [4, 2]))
        }
    }

    func testWrongRankStops() throws {
        try assertStops(withMessage: "BatchNorm(3): input of shape [4, 3, 5] does not fit") {
            _ = BatchNorm(features: 3).forward(Tensor(shape: [4, 3, 5]))
        }
    }

    /// eps 0 would give NaN for a feature constant over a batch (variance 0): PyTorch refuses
    /// eps ≤ 0 in training, the layer refuses it when made.
    func testZeroEpsStops() throws {
        try assertStops(withMessage: "BatchNorm(2): eps 0.0 must be a finite number above 0") {
            _ = BatchNorm(features: 2, eps: 0)
        }
    }

    func testNaNEpsStops() throws {
        try assertStops(withMessage: "BatchNorm(2): eps is NaN; it must be a finite number above 0") {
            _ = BatchNorm(features: 2, eps: .nan)
        }
    }

    func testOneValuePerChannelStopsInTraining() throws {
        // Evaluation accepts a single sample.
        let layer = BatchNorm(features: 3)
        layer.setTraining(false)
        XCTAssertEqual(layer.forward(Tensor(shape: [1, 3], values: [0, 0, 0])).values, [0, 0, 0])
        try assertStops(withMessage: "BatchNorm(3): expected more than 1 value per channel when training, got input of shape [1, 3, 1, 1]") {
            _ = BatchNorm(features: 3).forward(Tensor(shape: [1, 3, 1, 1]))
        }
    }
}
