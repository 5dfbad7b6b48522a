import XCTest
@testable import DeepLearning

/// What `Model.fit` leaves when a batch throws before its update: the parameters, the
/// optimizer's state and `BatchNorm`'s running statistics and count as the batch before left
/// them, that is, as training on the batches before alone leaves them.
final class FitFailureStateTests: XCTestCase {
    /// The error the failing batch throws.
    struct BatchFailure: Error {}

    /// `SoftmaxCrossEntropy` that throws `BatchFailure` at its `failingCall`-th forward pass.
    final class FailingLoss: Loss {
        let loss = SoftmaxCrossEntropy()
        let failingCall: Int
        var calls = 0

        init(failingCall: Int) { self.failingCall = failingCall }

        func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws
            -> Float
        {
            calls += 1
            if calls == failingCall { throw BatchFailure() }
            return try loss.forward(output, labels: labels)
        }

        func backward() -> Tensor { loss.backward() }
    }

    /// A BatchNorm network, trained in the fused passes or, with its BatchNorm `nested` in a
    /// model, in the graph, and Adam over its parameters.
    private func network(nested: Bool) -> (model: Model, batchNorm: BatchNorm, optimizer: Adam) {
        let batchNorm = BatchNorm(features: 4)
        let model = Model {
            Linear(2, 4, seed: 1)
            if nested { Model { batchNorm; ReLU() } } else { batchNorm; ReLU() }
            Linear(4, 3, seed: 2)
        }
        return (model, batchNorm, Adam(parameters: model.parameters))
    }

    /// The parameters, running statistics and count, and the optimizer's buffers and step
    /// counts.
    private func state(_ model: Model, _ batchNorm: BatchNorm, _ optimizer: Adam) -> [Float] {
        let contents = optimizer.checkpointContents
        return model.parameters.flatMap(\.values) + batchNorm.runningMean.values
            + batchNorm.runningVariance.values + contents.tensors.flatMap(\.tensor.values)
            + ([batchNorm.batchesTracked] + contents.counters.map(\.counter)).map { Float($0.value) }
    }

    /// 12 random points in 3 batches of 4, without shuffling.
    private let inputs: Tensor = {
        var generator = SeededGenerator(seed: 3)
        return randomTensor([12, 2], using: &generator)
    }()
    private let labels = (0..<12).map { Int32($0 % 3) }

    /// Checks that `fit` throwing in batch 3 (by `loss` or `beforeStep`) leaves the state of
    /// training on batches 1 and 2 alone.
    private func checkFailureInBatchThree(nested: Bool, loss: FailingLoss,
                                          beforeStep: @escaping (Float, Int) throws -> Void,
                                          file: StaticString = #filePath, line: UInt = #line) {
        let (model, batchNorm, optimizer) = network(nested: nested)
        XCTAssertThrowsError(try model.fit(inputs, labels: labels, loss: loss,
                                           optimizer: optimizer, epochs: 1, batchSize: 4,
                                           shuffle: false, beforeStep: beforeStep),
                             file: file, line: line) { error in
            XCTAssertTrue(error is BatchFailure, "\(error)", file: file, line: line)
        }
        let reference = network(nested: nested)
        XCTAssertNoThrow(try reference.model.fit(inputs.rows(0..<8), labels: Array(labels[0..<8]),
                                                 optimizer: reference.optimizer, epochs: 1,
                                                 batchSize: 4, shuffle: false,
                                                 beforeStep: { _, _ in }),
                         file: file, line: line)
        XCTAssertEqual(batchNorm.batchesTracked.value, 2, file: file, line: line)
        XCTAssertEqual(state(model, batchNorm, optimizer),
                       state(reference.model, reference.batchNorm, reference.optimizer),
                       file: file, line: line)
    }

    func testABeforeStepThatThrowsLeavesTheStateOfTheBatchesBefore() {
        for nested in [false, true] {
            var steps = 0
            checkFailureInBatchThree(nested: nested, loss: FailingLoss(failingCall: 0)) { _, _ in
                steps += 1
                if steps == 3 { throw BatchFailure() }
            }
        }
    }

    func testALossThatThrowsLeavesTheStateOfTheBatchesBefore() {
        for nested in [false, true] {
            checkFailureInBatchThree(nested: nested, loss: FailingLoss(failingCall: 3)) { _, _ in }
        }
    }
}
