import Foundation
import XCTest
@testable import DeepLearning

/// What `fit` and `saveCheckpoint` write: the model's file and the checkpoint replaced
/// together, never one without the other; never a file with two entries of one name.
final class CheckpointSavingTests: CheckpointTestCase {
    /// The checkpoint's write fails after the model's file was written (the file-size limit,
    /// set to the model file's size with SIGXFSZ ignored so that `write` returns EFBIG, as a
    /// full disk would fail it): neither file is replaced, no temporary file is left, and
    /// training resumes from the pair saved after the epoch before.
    func testACheckpointThatCannotBeWrittenReplacesNeitherFile() throws {
        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        func makeTraining() -> (Model, SGD) {
            let model = Model { Linear(2, 16); ReLU(); Linear(16, 3) }
            model.initializeParameters(seed: 1)
            return (model, SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9))
        }
        func fileContents() throws -> [Data] {
            try [files.modelPath, files.checkpointPath].map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
        }
        let files = Checkpointing(modelPath: path("model.safetensors"), checkpointPath: path("checkpoint"))
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var afterEpoch1: [Data] = []
        let (model, optimizer) = makeTraining()
        let reason = String(cString: strerror(EFBIG))
        assertThrows(.unwritableFile(path: files.checkpointPath, reason: reason),
                     message: "cannot write \(files.checkpointPath): \(reason)") {
            try model.fit(data.inputs, labels: data.labels, optimizer: optimizer, epochs: 3,
                          batchSize: 8, checkpoints: files) { progress in
                guard progress.epoch == 1, let saved = try? fileContents() else { return }
                afterEpoch1 = saved
                XCTAssertLessThan(saved[0].count, saved[1].count, "the checkpoint is the larger file")
                var small = limit
                small.rlim_cur = rlim_t(saved[0].count)
                XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &small), 0)
            }
        }
        XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
        signal(SIGXFSZ, previousHandler)
        XCTAssertEqual(try fileContents(), afterEpoch1, "the files saved after epoch 1")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted(),
                       ["checkpoint", "model.safetensors"])

        let (resumed, resumedOptimizer) = makeTraining()
        try resumed.load(from: files.modelPath)
        let losses = try resumed.fit(data.inputs, labels: data.labels, optimizer: resumedOptimizer,
                                     epochs: 3, batchSize: 8, resumingFrom: files.checkpointPath)
        XCTAssertEqual(losses.count, 2, "epochs 2 and 3")
    }

    /// A checkpoint whose step count is 2⁵³, the largest that restoring reads, restores, and
    /// training on from it saves its checkpoints (which restoring then refuses).
    func testTrainingOnFromTheLargestStepCountSaves() throws {
        let saved = try savedTraining { Adam(parameters: $0) }
        try rewrite(path("checkpoint"), to: path("checkpoint"), setting: "optimizer.step.0", to: 1 << 53)
        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        try saved.model.fit(data.inputs, labels: data.labels, optimizer: saved.optimizer,
                            schedule: saved.schedule, epochs: 3, batchSize: 8, seed: 4,
                            checkpoints: Checkpointing(modelPath: path("model.safetensors"),
                                                       checkpointPath: path("checkpoint")),
                            resumingFrom: path("checkpoint"))
        let step: Int64 = (1 << 53) + 4   // 4 batches of 30 samples
        XCTAssertEqual(saved.optimizer.checkpointContents.counters.first?.counter.value, step)
        try assertRefused(path("checkpoint"), model: saved.model, optimizer: saved.optimizer,
                          schedule: saved.schedule, loader: saved.loader,
                          .invalid("its optimizer.step.0 \(step) is not a count training reaches (0 through 2^53)"))
    }

    /// An optimizer that takes no steps and lists `contents` in its checkpoints.
    private final class Listing: Optimizer {
        let parameters: [Tensor]
        var learningRate: Float = 0.1
        let checkpointContents: CheckpointContents

        init(_ parameters: [Tensor], _ checkpointContents: CheckpointContents) {
            self.parameters = parameters
            self.checkpointContents = checkpointContents
        }

        func step() {}
    }

    /// A schedule of constant rate that lists `contents` in its checkpoints.
    private final class ListingSchedule: LearningRateSchedule {
        let optimizer: any Optimizer
        var epoch = 0
        let checkpointContents: CheckpointContents

        init(_ optimizer: any Optimizer, _ checkpointContents: CheckpointContents) {
            self.optimizer = optimizer
            self.checkpointContents = checkpointContents
        }

        func learningRate(atEpoch epoch: Int) -> Float { 0.1 }
    }

    /// Asserts that saving a checkpoint with an optimizer listing `optimizerContents` and a
    /// schedule listing `scheduleContents` stops with `message`.
    private func assertSavingStops(optimizer optimizerContents: CheckpointContents,
                                   schedule scheduleContents: CheckpointContents = CheckpointContents(kind: "Constant"),
                                   withMessage message: String, test: String = #function,
                                   file: StaticString = #filePath, line: UInt = #line) throws {
        let model = Model { Linear(2, 3) }
        let optimizer = Listing(model.parameters, optimizerContents)
        let schedule = ListingSchedule(optimizer, scheduleContents)
        try assertStops(withMessage: message, test: test, file: file, line: line) {
            try? model.saveCheckpoint(to: path("checkpoint"), optimizer: optimizer,
                                      schedule: schedule, epoch: 1)
        }
    }

    func testAnOptimizerBufferNamedLikeTheLearningRateStops() throws {
        try assertSavingStops(
            optimizer: CheckpointContents(kind: "Listing", tensors: [("learning_rate", Tensor(shape: []))]),
            withMessage: "Model.saveCheckpoint: the optimizer Listing names a buffer or counter \"learning_rate\" in its CheckpointContents; the checkpoint's own optimizer.learning_rate has that name")
    }

    func testAnOptimizerSettingNamedParametersStops() throws {
        try assertSavingStops(
            optimizer: CheckpointContents(kind: "Listing", settings: [("parameters", "2")]),
            withMessage: "Model.saveCheckpoint: the optimizer Listing names a setting \"parameters\" in its CheckpointContents; the checkpoint's own optimizer.parameters has that name")
    }

    func testAScheduleCounterNamedEpochStops() throws {
        try assertSavingStops(
            optimizer: CheckpointContents(kind: "Listing"),
            schedule: CheckpointContents(kind: "Constant", counters: [("epoch", Counter())]),
            withMessage: "Model.saveCheckpoint: the schedule Constant names a buffer or counter \"epoch\" in its CheckpointContents; the checkpoint's own schedule.epoch has that name")
    }

    func testSettingsOfOneNameStop() throws {
        try assertStops(withMessage: "CheckpointContents(Listing): setting names [\"beta\", \"beta\"] are not unique") {
            _ = CheckpointContents(kind: "Listing", settings: [("beta", "0.9"), ("beta", "0.99")])
        }
    }

    func testASafeTensorsImageWithTwoTensorsOfOneNameStops() throws {
        try assertStops(withMessage: "safetensors: the header would hold two entries named \"weight\"") {
            let tensors = ["weight", "bias", "weight"].map { StoredTensor(name: $0, value: .counter(Counter())) }
            _ = try? safeTensorsImage(of: tensors, metadata: [:])
        }
    }

    func testASafeTensorsImageWithATensorNamedMetadataStops() throws {
        try assertStops(withMessage: "safetensors: the header would hold two entries named \"__metadata__\"") {
            let tensors = [StoredTensor(name: "__metadata__", value: .counter(Counter()))]
            _ = try? safeTensorsImage(of: tensors, metadata: [:])
        }
    }
}
