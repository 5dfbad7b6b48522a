import Foundation
import XCTest
@testable import DeepLearning

/// A learning-rate schedule with state of its own beyond its epoch, listed in its
/// `CheckpointContents`: a checkpoint saves and restores it as it does an optimizer's buffers
/// and counters, and refuses a NaN in it.
final class ScheduleCheckpointTests: CheckpointTestCase {
    /// Multiplies the rate by 0.7 at every epoch, keeping the rate in a tensor and the
    /// number of decays in a counter rather than computing them from the epoch.
    private final class RunningDecay: LearningRateSchedule {
        let optimizer: any Optimizer
        var epoch = 0
        let rate: Tensor
        let decays = Counter()

        init(optimizer: any Optimizer) {
            self.optimizer = optimizer
            rate = Tensor(shape: [], values: [optimizer.learningRate])
        }

        func learningRate(atEpoch epoch: Int) -> Float {
            rate.value[0] *= 0.7
            decays.value += 1
            return rate.value[0]
        }

        var checkpointContents: CheckpointContents {
            CheckpointContents(kind: "RunningDecay", tensors: [("rate", rate)],
                               counters: [("decays", decays)])
        }
    }

    private typealias Training = (model: Model, optimizer: SGD, schedule: RunningDecay)

    private func makeTraining() -> Training {
        let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
        model.initializeParameters(seed: 1)
        let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
        return (model, optimizer, RunningDecay(optimizer: optimizer))
    }

    private let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)

    private func fit(_ training: Training, epochs: Int, resumingFrom checkpoint: String? = nil)
        throws -> [Float]
    {
        try training.model.fit(
            data.inputs, labels: data.labels, optimizer: training.optimizer,
            schedule: training.schedule, epochs: epochs, batchSize: 8,
            checkpoints: Checkpointing(modelPath: path("model.safetensors"),
                                       checkpointPath: path("checkpoint")),
            resumingFrom: checkpoint)
    }

    /// Training 4 epochs gives the same losses and schedule state as training 2, then
    /// resuming with a fresh schedule for 2 more.
    func testAScheduleStateIsRestored() throws {
        let reference = makeTraining()
        let referenceLosses = try fit(reference, epochs: 4)
        let firstLosses = try fit(makeTraining(), epochs: 2)
        let resumed = makeTraining()
        try resumed.model.load(from: path("model.safetensors"))
        let resumedLosses = try fit(resumed, epochs: 4, resumingFrom: path("checkpoint"))
        XCTAssertEqual((firstLosses + resumedLosses).map(\.bitPattern),
                       referenceLosses.map(\.bitPattern))
        XCTAssertEqual(resumed.schedule.decays.value, 4)
        XCTAssertEqual(resumed.schedule.rate.values.map(\.bitPattern),
                       reference.schedule.rate.values.map(\.bitPattern))
    }

    func testANaNInAScheduleBufferIsRefused() throws {
        let saved = makeTraining()
        _ = try fit(saved, epochs: 2)
        try rewrite(path("checkpoint"), to: path("edited")) { _, tensors in
            guard case let .floats(tensor, _) = tensors["schedule.rate"]?.value else {
                return XCTFail("the checkpoint lacks the F32 schedule.rate")
            }
            tensor.value[0] = .nan
        }
        let loader = try MiniBatchLoader(inputs: data.inputs, labels: data.labels, batchSize: 8)
        try assertRefused(path("edited"), model: saved.model, optimizer: saved.optimizer,
                          schedule: saved.schedule, loader: loader,
                          .invalid("its schedule.rate holds NaN at element 0"))
    }
}
