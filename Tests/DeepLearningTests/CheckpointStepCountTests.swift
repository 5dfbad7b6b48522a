import XCTest
@testable import DeepLearning

/// Training checkpoints keep the step count of each parameter (PyTorch's `state['step']` per
/// parameter), which differ when some parameters had no gradient in some steps.
final class CheckpointStepCountTests: CheckpointTestCase {
    /// Gives the parameters whose index `hasGradient(index)` admits a gradient, then steps.
    private func step(_ optimizer: any Optimizer, _ number: Int, hasGradient: (Int) -> Bool) {
        optimizer.zeroGrad()
        for (index, parameter) in optimizer.parameters.enumerated() where hasGradient(index) {
            parameter.withUnsafeMutableGradientBufferPointer {
                for element in $0.indices { $0[element] = Float(element + number + index) * 0.1 - 0.3 }
            }
        }
        optimizer.step()
    }

    /// Three steps in which parameter 0 and 3 have a gradient each time, 1 in the second only
    /// and 2 never: the checkpoint holds the counts 3, 1, 0, 3 ("step.0" ...), a fresh
    /// optimizer restores them, and two more steps of every parameter give the original's bits
    /// (Adam's bias corrections, SGD's undampened first step of parameter 2).
    func testUnequalStepCountsRoundTrip() throws {
        let optimizers: [([Tensor]) -> any Optimizer] = [
            { Adam(parameters: $0, learningRate: 0.1) },
            { SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, dampening: 0.5) },
        ]
        for make in optimizers {
            let makeModel = { Model { Linear(2, 3); ReLU(); Linear(3, 2) } }
            let model = makeModel()
            model.initializeParameters(seed: 1)
            let optimizer = make(model.parameters)
            for number in 1...3 {
                step(optimizer, number) { $0 == 0 || $0 == 3 || ($0 == 1 && number == 2) }
            }
            try model.save(to: path("model.safetensors"))
            try model.saveCheckpoint(to: path("checkpoint"), optimizer: optimizer, epoch: 1)

            let restoredModel = makeModel()
            try restoredModel.load(from: path("model.safetensors"))
            let restored = make(restoredModel.parameters)
            XCTAssertEqual(try restoredModel.restoreCheckpoint(from: path("checkpoint"),
                                                               optimizer: restored), 1)
            let counters = restored.checkpointContents.counters
            XCTAssertEqual(counters.map(\.name), ["step.0", "step.1", "step.2", "step.3"])
            XCTAssertEqual(counters.map(\.counter.value), [3, 1, 0, 3])
            for number in 4...5 {
                step(optimizer, number) { _ in true }
                step(restored, number) { _ in true }
            }
            XCTAssertEqual(restoredModel.parameters.map(\.values), model.parameters.map(\.values),
                           "\(type(of: optimizer))")
        }
    }
}
