import CKernels
import XCTest
@testable import DeepLearning

/// `Model.fit` with the library's optimizers on the fused path: each `Linear`'s weight takes
/// its step in the product of its gradient (`ck_sgemm_sgd`, `ck_sgemm_adam`,
/// `ck_sgemm_rmsprop`) on every batch but an epoch's last. The losses, the parameters and the
/// gradients after `fit` are those of the graph, which stores every gradient and steps with
/// the optimizer's own kernel, bit for bit.
final class StepInProductTests: XCTestCase {
    override func tearDown() { Threads.reset() }

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
    /// this CPU's table, where the optimizers' products update the weight: the tests below run
    /// that update.
    func testTheSecondLayersWeightIsUpdatedInItsProduct() {
        let route = ck_gemm_route_for(ck_gemm_get_arch(), ck_get_num_threads(), 1, 0, 256, 128, 64,
                                      128, 1, 0, CK_GEMM_EPILOGUE_NONE)
        XCTAssert([CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_ALONG_ROWS].contains(route),
                  String(cString: ck_gemm_route_name(route)))
    }

    /// Plain SGD; momentum with dampening and weight decay; Nesterov; Adam with weight decay;
    /// AdamW; plain RMSProp, and centered with momentum and weight decay; with `maximize` and
    /// `amsgrad`.
    private static let optimizers: [(name: String, make: @Sendable ([Tensor]) -> any Optimizer)] = [
        ("plain SGD", { SGD(parameters: $0, learningRate: 0.05) }),
        ("SGD with momentum", {
            SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3)
        }),
        ("Nesterov", { SGD(parameters: $0, learningRate: 0.05, momentum: 0.8, weightDecay: 0.01, nesterov: true) }),
        ("Adam", { Adam(parameters: $0, learningRate: 0.01, weightDecay: 1e-3) }),
        ("AdamW", { AdamW(parameters: $0, learningRate: 0.01) }),
        ("RMSProp", { RMSProp(parameters: $0, learningRate: 0.001) }),
        ("centered RMSProp", {
            RMSProp(parameters: $0, learningRate: 0.001, weightDecay: 1e-3, momentum: 0.9, centered: true)
        }),
        ("SGD maximize", { SGD(parameters: $0, learningRate: 0.05, momentum: 0.9, maximize: true) }),
        ("Adam amsgrad", { Adam(parameters: $0, learningRate: 0.01, weightDecay: 1e-3, amsgrad: true) }),
        ("AdamW amsgrad maximize", { AdamW(parameters: $0, learningRate: 0.01, amsgrad: true, maximize: true) }),
        ("RMSProp maximize", { RMSProp(parameters: $0, learningRate: 0.001, momentum: 0.9, maximize: true) }),
    ]

    /// Three epochs on the fused path and through the graph, with each optimizer.
    func testFitGivesTheGraphsLossesParametersAndGradients() throws {
        let (inputs, labels) = Self.data()
        for (name, makeOptimizer) in Self.optimizers {
            var results: [(losses: [UInt32], parameters: [[Float]], gradients: [[Float]])] = []
            for fused in [true, false] {
                let model = Self.model()
                model.allowsFusedPath = fused
                let losses = try model.fit(inputs, labels: labels, optimizer: makeOptimizer(model.parameters),
                                           epochs: 3, batchSize: 64, seed: 53)
                results.append((losses.map(\.bitPattern), model.parameters.map(\.values),
                                model.parameters.map(\.gradients)))
            }
            XCTAssertEqual(results[0].losses, results[1].losses, name)
            XCTAssertEqual(results[0].parameters, results[1].parameters, name)
            XCTAssertEqual(results[0].gradients, results[1].gradients, name)
        }
    }

    /// `steps` training steps on the first 64 samples, every gradient zeroed first, the update
    /// in the weights' products (`thenStep`) or after the backward pass, from dLoss/dOutput or,
    /// when `negated`, its negation (the gradients of the negated loss, exactly); returns the
    /// model.
    private static func train(steps: Int, inProducts: Bool, negated: Bool = false,
                              optimizer: (Model) -> any Optimizer) throws -> Model
    {
        let (inputs, labels) = data()
        let x = Tensor(shape: [64, 96], values: Array(inputs.values[0..<(64 * 96)]))
        let model = Self.model()
        let optimizer = optimizer(model)
        let loss = SoftmaxCrossEntropy()
        for _ in 0..<steps {
            for parameter in model.parameters { parameter.zeroGradient() }
            _ = try loss.forward(model.forward(x), labels: labels[0..<64])
            var outputGradient = loss.backward()
            if negated {
                outputGradient = Tensor(shape: outputGradient.shape, values: outputGradient.values.map { -$0 })
            }
            if inProducts {
                model.accumulateParameterGradients(outputGradient, thenStep: optimizer)
            } else {
                model.accumulateParameterGradients(outputGradient)
                optimizer.step()
            }
        }
        return model
    }

    /// A training loop's step, `accumulateParameterGradients(_:thenStep:)`, against
    /// `accumulateParameterGradients(_:)` then `step()`: the same parameters after four steps
    /// (the first of them the optimizer buffers' first), and the same gradients of the
    /// parameters that do not step in a product (the biases, the last layer's weight); with
    /// each optimizer above, and with one of the user's, which steps after the backward pass.
    func testStepInProductsEqualsBackwardThenStep() throws {
        let own: (name: String, make: @Sendable ([Tensor]) -> any Optimizer) =
            ("an optimizer of the user's", { UsersOptimizer(SGD(parameters: $0, learningRate: 0.05, momentum: 0.9)) })
        let optimizers = Self.optimizers + [own]
        for (name, makeOptimizer) in optimizers {
            let results = try [true, false].map { inProducts in
                let model = try Self.train(steps: 4, inProducts: inProducts) { makeOptimizer($0.parameters) }
                let last = model.parameters.count - 1
                return model.parameters.map(\.values) + [1, 3, last - 1, last].map { model.parameters[$0].gradients }
            }
            XCTAssertEqual(results[0], results[1], name)
        }
    }

    /// With `maximize` (and `amsgrad`) the optimizers let the second layer's product take its
    /// weight's step, and that product takes it (`ck_sgemm_takes_step`) on 1 and 2 threads,
    /// so that the tests below run the product's step.
    func testMaximizingOptimizersStepInTheProduct() {
        let model = Self.model()
        for (name, make) in maximizingOptimizers {
            let optimizer = make(model.parameters, true) as! any StepsInProduct
            XCTAssert(optimizer.stepInProduct(of: model.parameters[2]) { _ in false }, name)
        }
        for threads in [1, 2] {
            Threads.count = threads
            XCTAssertEqual(ck_sgemm_takes_step(1, 0, 256, 128, 64), 1, "\(threads) threads")
        }
    }

    /// With `maximize`, the update in the weights' products equals the backward pass then
    /// `step()`, bit for bit, over four steps on 1 and 2 threads, and the same bits on both.
    func testMaximizeInProductsEqualsBackwardThenStep() throws {
        for (name, make) in maximizingOptimizers {
            var byThreads: [[[Float]]] = []
            for threads in [1, 2] {
                Threads.count = threads
                let results = try [true, false].map { inProducts in
                    let model = try Self.train(steps: 4, inProducts: inProducts) { make($0.parameters, true) }
                    let last = model.parameters.count - 1
                    return model.parameters.map(\.values) + [1, 3, last - 1, last].map { model.parameters[$0].gradients }
                }
                XCTAssertEqual(results[0], results[1], "\(name), \(threads) threads")
                byThreads.append(results[0])
            }
            XCTAssertEqual(byThreads[0], byThreads[1], name)
        }
    }

    /// With `maximize`, the update in the weights' products equals minimizing the negated loss
    /// in the products, bit for bit (negating is exact, as is every step's use of it).
    func testMaximizeInProductsEqualsMinimizingTheNegatedLoss() throws {
        for (name, make) in maximizingOptimizers {
            let results = try [true, false].map { maximize in
                try Self.train(steps: 4, inProducts: true, negated: !maximize) { make($0.parameters, maximize) }
                    .parameters.map { $0.values.map(\.bitPattern) }
            }
            XCTAssertEqual(results[0], results[1], name)
        }
    }

    /// An optimizer of some parameters only (the second layer's): the weights it does not
    /// update keep their values and the first layer's gradient is stored, as with two calls.
    func testStepInProductsWithAnOptimizerOfSomeParameters() throws {
        for (name, makeOptimizer) in [Self.optimizers[1], Self.optimizers[3]] {
            let results = try [true, false].map { inProducts in
                let model = try Self.train(steps: 3, inProducts: inProducts) {
                    makeOptimizer(Array($0.parameters[2...3]))
                }
                return model.parameters.map(\.values) + [model.parameters[0].gradients]
            }
            XCTAssertEqual(results[0], results[1], name)
        }
    }

    /// `onGradientAccumulated` hooks on every parameter run on the fused path as through the
    /// graph: once a batch each, last layer first, each seeing its complete gradient (a hooked
    /// weight does not take its step in its product), with the same losses.
    func testGradientHooksRunOnTheFusedPathAsThroughTheGraph() throws {
        let (inputs, labels) = Self.data()
        var results: [(losses: [UInt32], calls: [(parameter: Int, gradient: [Float])])] = []
        for fused in [true, false] {
            let model = Self.model()
            model.allowsFusedPath = fused
            var calls: [(parameter: Int, gradient: [Float])] = []
            for (index, parameter) in model.parameters.enumerated() {
                parameter.onGradientAccumulated { calls.append((index, $0.gradients)) }
            }
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.05, momentum: 0.9)
            let losses = try model.fit(inputs, labels: labels, optimizer: optimizer, epochs: 2,
                                       batchSize: 64, seed: 55)
            results.append((losses.map(\.bitPattern), calls))
        }
        // 2 epochs of 5 batches, 6 parameters each, the last layer's first.
        XCTAssertEqual(results[0].calls.count, 60)
        XCTAssertEqual(results[0].calls.prefix(6).map(\.parameter), [4, 5, 2, 3, 0, 1])
        XCTAssertEqual(results[0].calls.map(\.parameter), results[1].calls.map(\.parameter))
        XCTAssertEqual(results[0].calls.map(\.gradient), results[1].calls.map(\.gradient))
        XCTAssertEqual(results[0].losses, results[1].losses)
    }

    /// A weight the loss uses too (a penalty written in a `CustomLoss`) runs its hooks after
    /// the loss's backward pass, seeing that penalty's gradient, and again after the model's,
    /// seeing both; the gradient of `fit`'s `penalties` is added after them.
    func testHooksRunAfterEachPassOfAStepAndBeforeFitsPenalties() throws {
        let (inputs, labels) = Self.data()
        for fused in [true, false] {
            let model = Self.model()
            model.allowsFusedPath = fused
            let weight = model.parameters[4]
            let initial = weight.values
            var seen: [[Float]] = []
            weight.onGradientAccumulated { seen.append($0.gradients) }
            let loss = CustomLoss { (output: Tensor, labels: [Int32]) in
                try crossEntropy(output, labels: labels) + (weight * weight).sum() * 0.5
            }
            var stepped: [Float] = []
            let optimizer = SGD(parameters: model.parameters, learningRate: 0.05)
            try model.fit(inputs.rows(0..<64), labels: Array(labels[0..<64]), loss: loss,
                          optimizer: optimizer, epochs: 1, batchSize: 64,
                          penalties: [Penalty(parameters: [weight], l2: 0.25)],
                          beforeStep: { _, _ in stepped = weight.gradients })
            XCTAssertEqual(seen.count, 2, "fused \(fused)")
            XCTAssertEqual(seen.first, initial, "d(Σ w² / 2)/dw = w, fused \(fused)")
            XCTAssertEqual(stepped, zip(seen[1], initial).map { $0 + 0.5 * $1 }, "fused \(fused)")
        }
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

/// An optimizer written outside the library (here around an `SGD`): it does not take its steps
/// in the products.
private final class UsersOptimizer: Optimizer {
    private let sgd: SGD
    init(_ sgd: SGD) { self.sgd = sgd }
    var parameters: [Tensor] { sgd.parameters }
    var learningRate: Float {
        get { sgd.learningRate }
        set { sgd.learningRate = newValue }
    }
    func step() { sgd.step() }
    var checkpointContents: CheckpointContents { sgd.checkpointContents }
}
