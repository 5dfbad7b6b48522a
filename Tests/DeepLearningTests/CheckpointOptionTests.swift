import XCTest
@testable import DeepLearning

/// Checkpoints of optimizers with PyTorch's `amsgrad` and `maximize`: the flags are settings
/// listed only when on and amsgrad's maxima a buffer of their own, so a checkpoint without
/// them is the format saved before they existed, and resuming with other flags is refused.
final class CheckpointOptionTests: CheckpointTestCase {
    /// Adam and AdamW with amsgrad save "max_exp_avg_sq.<index>", never negative nor NaN.
    func testAmsgradsMaximaAreSavedAndChecked() throws {
        for makeOptimizer in [{ Adam(parameters: $0, amsgrad: true) }, { AdamW(parameters: $0, amsgrad: true) }]
            as [([Tensor]) -> any Optimizer] {
            let saved = try savedTraining(makeOptimizer: makeOptimizer)
            for (value, problem) in [(Float.nan, "holds NaN at element 1"),
                                     (-1, "holds -1.0 at element 1, but an average of squares is never negative")] {
                try assertRefused(saved, rewrittenTo: "edited", by: { _, tensors in
                    guard case let .floats(tensor, _) = tensors["optimizer.max_exp_avg_sq.2"]!.value else {
                        return XCTFail("max_exp_avg_sq.2 is not F32")
                    }
                    tensor.value[1] = value
                }, .invalid("its optimizer.max_exp_avg_sq.2 \(problem)"))
            }
            try assertRefused(saved, rewrittenTo: "without maxima", by: { _, tensors in
                tensors["optimizer.max_exp_avg_sq.1"] = nil
            }, .mismatch("it lacks tensor \"optimizer.max_exp_avg_sq.1\", which this training has"))
        }
    }

    /// Without the flags a checkpoint holds what one saved before they existed: no setting
    /// and no buffer of theirs.
    func testACheckpointWithoutTheFlagsHasTheFormerEntries() throws {
        for makeOptimizer in [{ Adam(parameters: $0) }, { SGD(parameters: $0, learningRate: 0.1) },
                              { RMSProp(parameters: $0) }] as [([Tensor]) -> any Optimizer] {
            _ = try savedTraining(makeOptimizer: makeOptimizer)
            try rewrite(path("checkpoint"), to: path("copy")) { metadata, tensors in
                XCTAssertEqual(metadata.keys.filter { $0.contains("amsgrad") || $0.contains("maximize") }, [])
                XCTAssertEqual(tensors.keys.filter { $0.contains("max_exp_avg_sq") }, [])
            }
        }
    }

    /// A checkpoint saved with a flag on is refused by an optimizer with it off, and the
    /// other way round, naming the flag.
    func testACheckpointWithOtherFlagsIsRefused() throws {
        let amsgrad = try savedTraining { Adam(parameters: $0, amsgrad: true) }
        let plain = Adam(parameters: amsgrad.model.parameters)
        try assertRefused(path("checkpoint"), model: amsgrad.model, optimizer: plain,
                          schedule: StepDecay(optimizer: plain, stepSize: 1), loader: amsgrad.loader,
                          .mismatch("it was saved with optimizer.amsgrad true, this training has none"))

        let sgd = try savedTraining { SGD(parameters: $0, learningRate: 0.1) }
        let maximizing = SGD(parameters: sgd.model.parameters, learningRate: 0.1, maximize: true)
        try assertRefused(path("checkpoint"), model: sgd.model, optimizer: maximizing,
                          schedule: StepDecay(optimizer: maximizing, stepSize: 1), loader: sgd.loader,
                          .mismatch("it was saved with optimizer.maximize none, this training has true"))

        let rmsProp = try savedTraining { RMSProp(parameters: $0, maximize: true) }
        let minimizing = RMSProp(parameters: rmsProp.model.parameters)
        try assertRefused(path("checkpoint"), model: rmsProp.model, optimizer: minimizing,
                          schedule: StepDecay(optimizer: minimizing, stepSize: 1), loader: rmsProp.loader,
                          .mismatch("it was saved with optimizer.maximize true, this training has none"))
    }
}
