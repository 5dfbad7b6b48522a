import CKernels
import XCTest
@testable import DeepLearning

/// `Model.fit` with `SGD` on the fused path: each `Linear`'s weight takes its step in the
/// product of its gradient (`ck_sgemm_sgd`) on every batch but an epoch's last. The losses,
/// the parameters and the gradients after `fit` are those of the graph, which stores every
/// gradient and steps with `ck_sgd`, bit for bit.
final class SGDInProductTests: XCTestCase {
    /// 300 samples of 96 features in 10 classes: batches of 64 and a last one of 44.
    private static func data() -> (inputs: Tensor, labels: [Int32]) {
        var generator = SeededGenerator(seed: 51)
        let inputs = randomTensor([300, 96], using: &generator)
        let labels = (0..<300).map { _ in Int32.random(in: 0..<10, using: &generator) }
        return (inputs, labels)
    }

    private static func model() -> Model {
        let model = Model { Linear(96, 256); ReLU(); Linear(256, 128); ReLU(); Linear(128, 10) }
        model.initializeParameters(seed: 52)
        return model
    }

    /// The second layer's dW (256 × 128 from a batch of 64) takes a route with B~ shared on
    /// this CPU's table, where `ck_sgemm_sgd` updates the weight in the product: the tests
    /// below run that update.
    func testTheSecondLayersWeightIsUpdatedInItsProduct() {
        let route = ck_gemm_route_for(ck_gemm_get_arch(), ck_get_num_threads(), 1, 0, 256, 128, 64,
                                      128, 1, 0, CK_GEMM_EPILOGUE_NONE)
        XCTAssert([CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_ALONG_ROWS].contains(route),
                  String(cString: ck_gemm_route_name(route)))
    }

    /// Plain SGD; momentum with dampening and weight decay; Nesterov: three epochs on the fused
    /// path and through the graph.
    func testFitGivesTheGraphsLossesParametersAndGradients() throws {
        let (inputs, labels) = Self.data()
        let settings: [(momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool)] = [
            (0, 0, 0, false), (0.9, 0.1, 1e-3, false), (0.8, 0, 0.01, true),
        ]
        for setting in settings {
            var results: [(losses: [UInt32], parameters: [[Float]], gradients: [[Float]])] = []
            for fused in [true, false] {
                let model = Self.model()
                model.allowsFusedPath = fused
                let optimizer = SGD(parameters: model.parameters, learningRate: 0.05,
                                    momentum: setting.momentum, dampening: setting.dampening,
                                    weightDecay: setting.weightDecay, nesterov: setting.nesterov)
                let losses = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 3,
                                           batchSize: 64, seed: 53)
                results.append((losses.map(\.bitPattern), model.parameters.map(\.values),
                                model.parameters.map(\.gradients)))
            }
            let what = "\(setting)"
            XCTAssertEqual(results[0].losses, results[1].losses, what)
            XCTAssertEqual(results[0].parameters, results[1].parameters, what)
            XCTAssertEqual(results[0].gradients, results[1].gradients, what)
        }
    }

    /// `steps` training steps on the first 64 samples, every gradient zeroed first, the update
    /// in the weights' products (`thenStep`) or after the backward pass; returns the model.
    private static func train(steps: Int, inProducts: Bool, optimizer: (Model) -> SGD) throws -> Model {
        let (inputs, labels) = data()
        let x = Tensor(shape: [64, 96], values: Array(inputs.values[0..<(64 * 96)]))
        let model = Self.model()
        let optimizer = optimizer(model)
        let loss = SoftmaxCrossEntropy()
        for _ in 0..<steps {
            for parameter in model.parameters { parameter.zeroGradient() }
            _ = try loss.forward(model.forward(x), labels: labels[0..<64])
            if inProducts {
                model.accumulateParameterGradients(loss.backward(), thenStep: optimizer)
            } else {
                model.accumulateParameterGradients(loss.backward())
                optimizer.step()
            }
        }
        return model
    }

    /// A training loop's step, `accumulateParameterGradients(_:thenStep:)`, against
    /// `accumulateParameterGradients(_:)` then `step()`: the same parameters after four steps
    /// (the first of them the momentum buffers' first), and the same gradients of the
    /// parameters that do not step in a product (the biases, the last layer's weight).
    func testStepInProductsEqualsBackwardThenStep() throws {
        let results = try [true, false].map { inProducts in
            let model = try Self.train(steps: 4, inProducts: inProducts) {
                SGD(parameters: $0.parameters, learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3,
                    nesterov: true)
            }
            let last = model.parameters.count - 1
            return model.parameters.map(\.values) + [1, 3, last - 1, last].map { model.parameters[$0].gradients }
        }
        XCTAssertEqual(results[0], results[1])
    }

    /// An optimizer of some parameters only (the second layer's): the weights it does not
    /// update keep their values and the first layer's gradient is stored, as with two calls.
    func testStepInProductsWithAnOptimizerOfSomeParameters() throws {
        let results = try [true, false].map { inProducts in
            let model = try Self.train(steps: 3, inProducts: inProducts) {
                SGD(parameters: Array($0.parameters[2...3]), learningRate: 0.05, momentum: 0.9)
            }
            return model.parameters.map(\.values) + [model.parameters[0].gradients]
        }
        XCTAssertEqual(results[0], results[1])
    }

    /// Between the epochs' last batches the fused path does not store the weights' gradients;
    /// `progress` sees every gradient of the epoch's last batch, as through the graph.
    func testProgressSeesTheLastBatchsGradients() throws {
        let (inputs, labels) = Self.data()
        var seen: [[[Float]]] = [[], []]
        for (index, fused) in [true, false].enumerated() {
            let model = Self.model()
            model.allowsFusedPath = fused
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
            try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2, batchSize: 64,
                          seed: 54) { _ in seen[index] += model.parameters.map(\.gradients) }
        }
        XCTAssertEqual(seen[0], seen[1])
    }
}
