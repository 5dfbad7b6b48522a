import Foundation
import XCTest
@testable import DeepLearning

/// What the checkpoint test classes share: a temporary directory per test, a saved training,
/// and the helpers that rewrite its checkpoint and assert refused restores.
class CheckpointTestCase: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    typealias SavedTraining = (model: Model, optimizer: any Optimizer, schedule: StepDecay,
                               loader: MiniBatchLoader)

    /// A model, optimizer (`makeOptimizer` of the model's parameters; by default SGD with
    /// momentum), schedule and loader trained for 2 epochs, the model saved to
    /// "model.safetensors" and the checkpoint to "checkpoint".
    func savedTraining(
        makeOptimizer: ([Tensor]) -> any Optimizer = {
            SGD(parameters: $0, learningRate: 0.1, momentum: 0.9)
        }
    ) throws -> SavedTraining {
        let model = Model { Linear(2, 8); ReLU(); Dropout(probability: 0.2); Linear(8, 3) }
        model.initializeParameters(seed: 1)
        let optimizer = makeOptimizer(model.parameters)
        let schedule = StepDecay(optimizer: optimizer, stepSize: 1)
        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        let loader = try MiniBatchLoader(inputs: data.inputs, labels: data.labels, batchSize: 8, seed: 4)
        try model.fit(data.inputs, labels: data.labels, optimizer: optimizer, schedule: schedule,
                      epochs: 2, batchSize: 8, seed: 4,
                      checkpoints: Checkpointing(modelPath: path("model.safetensors"),
                                                 checkpointPath: path("checkpoint")))
        return (model, optimizer, schedule, loader)
    }

    /// Why a checkpoint is refused: it does not fit the training, or it is invalid.
    enum Refusal {
        case mismatch(String)
        case invalid(String)
    }

    /// Asserts that restoring `checkpoint` into the objects throws the error of `refusal`,
    /// with its message, and leaves them as they were (their checkpoint and model file the
    /// same bytes).
    func assertRefused(_ checkpoint: String, model: Model, optimizer: some Optimizer,
                               schedule: (any LearningRateSchedule)?, loader: MiniBatchLoader,
                               _ refusal: Refusal,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        func snapshot() throws -> Data {
            try model.save(to: path("snapshot.safetensors"))
            try model.saveCheckpoint(to: path("snapshot.checkpoint"), optimizer: optimizer,
                                     schedule: schedule, epoch: 0, loader: loader)
            return try Data(contentsOf: URL(fileURLWithPath: path("snapshot.safetensors")))
                + Data(contentsOf: URL(fileURLWithPath: path("snapshot.checkpoint")))
        }
        let before = try snapshot()
        let (expected, message): (DeepLearningError, String) = switch refusal {
        case let .mismatch(problem):
            (.checkpointMismatch(path: checkpoint, problem: problem),
             "the checkpoint \(checkpoint) does not fit this training: \(problem)")
        case let .invalid(problem):
            (.invalidCheckpoint(path: checkpoint, problem: problem),
             "the checkpoint \(checkpoint) is invalid: \(problem)")
        }
        assertThrows(expected, message: message, {
            try model.restoreCheckpoint(from: checkpoint, optimizer: optimizer, schedule: schedule,
                                        loader: loader)
        }, file: file, line: line)
        XCTAssertEqual(try snapshot(), before, "the state after the failed restore", file: file, line: line)
    }

    /// `assertRefused` of the checkpoint `savedTraining` saved, rewritten to `name` by `edit`,
    /// into the objects it saved.
    func assertRefused(_ saved: SavedTraining, rewrittenTo name: String,
                               by edit: (inout [String: String], inout [String: StoredTensor]) -> Void,
                               _ refusal: Refusal,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        try rewrite(path("checkpoint"), to: path(name), edit)
        try assertRefused(path(name), model: saved.model, optimizer: saved.optimizer,
                          schedule: saved.schedule, loader: saved.loader, refusal, file: file, line: line)
    }

    /// Rewrites the checkpoint at `source` to `target` after `edit` has changed its metadata
    /// and tensors (by name).
    func rewrite(_ source: String, to target: String,
                         _ edit: (inout [String: String], inout [String: StoredTensor]) -> Void) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let length = try SafeTensorsHeader.length(announcedBy: bytes[0..<8], imageSize: bytes.count,
                                                  source: source)
        let header = try SafeTensorsHeader(bytes[8..<(8 + length)],
                                           dataSize: bytes.count - 8 - length, source: source)
        var tensors: [String: StoredTensor] = [:]
        for (name, entry) in header.entries {
            let value: StoredTensor.Value = switch (entry.dtype, entry.shape.count) {
            case (.f32, _): .floats(Tensor(shape: entry.shape), transposed: false)
            case (_, 0): .counter(Counter())
            default: .integers(IntegerList(Array(repeating: 0, count: entry.shape[0])))
            }
            tensors[name] = StoredTensor(name: name, value: value)
            bytes[(8 + length)...].withUnsafeBytes { tensors[name]!.read(from: $0, at: entry.begin) }
        }
        var metadata = header.metadata
        edit(&metadata, &tensors)
        let image = try safeTensorsImage(of: tensors.sorted { $0.key < $1.key }.map(\.value),
                                         metadata: metadata)
        try Data(image).write(to: URL(fileURLWithPath: target))
    }

    /// Copies the checkpoint at `source` to `target` with the I64 scalar `counter` set to
    /// `count`, a count that saving would refuse to write.
    func rewrite(_ source: String, to target: String, setting counter: String,
                         to count: Int64) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let length = try SafeTensorsHeader.length(announcedBy: bytes[0..<8], imageSize: bytes.count,
                                                  source: source)
        let header = try SafeTensorsHeader(bytes[8..<(8 + length)],
                                           dataSize: bytes.count - 8 - length, source: source)
        let start = 8 + length + header.entries[counter]!.begin
        withUnsafeBytes(of: count.littleEndian) { bytes.replaceSubrange(start..<start + 8, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: target))
    }
}
