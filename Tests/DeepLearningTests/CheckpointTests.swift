import Foundation
import XCTest
@testable import DeepLearning

/// Training checkpoints: training 10 epochs gives the same bits as training 5, saving, and
/// resuming in a new process for 5 more; bad checkpoints throw and change nothing.
final class CheckpointTests: CheckpointTestCase {
    /// A model, its optimizer and its schedule, made afresh for each run.
    private struct Training {
        let makeModel: () -> Model
        let makeOptimizer: (Model) -> any Optimizer
        var makeSchedule: (any Optimizer) -> (any LearningRateSchedule)? = { _ in nil }

        /// The model initialized from `seed`, its optimizer and schedule.
        func make(seed: UInt64) -> (Model, any Optimizer, (any LearningRateSchedule)?) {
            let model = makeModel()
            model.initializeParameters(seed: seed)
            let optimizer = makeOptimizer(model)
            return (model, optimizer, makeSchedule(optimizer))
        }
    }


    /// Trains `training` for epochs `finished + 1 ... 10` from the checkpoint at
    /// `resumingFrom` (nil: from the start), saving the model and the checkpoint at the
    /// `files`' paths every 2 epochs and after the last; returns the losses.
    private static func fit(_ model: Model, _ optimizer: some Optimizer,
                            _ schedule: (any LearningRateSchedule)?, epochs: Int,
                            files: Checkpointing, resumingFrom: String? = nil) throws -> [Float] {
        let data = spiral(pointsPerClass: 50, classes: 3, seed: 0)
        return try model.fit(data.inputs, labels: data.labels, optimizer: optimizer, schedule: schedule,
                      epochs: epochs, batchSize: 20, seed: 3, checkpoints: files,
                      resumingFrom: resumingFrom)
    }

    /// Runs `training` for 10 epochs in one go, and for 5 epochs then 5 more in a child
    /// process (this test again, in which `DEEPLEARNING_CHECKPOINT_CHILD` names the test and
    /// the directory) from the saved model and checkpoint, with the model made afresh from
    /// another seed; asserts that the losses, the final model's file and the final
    /// checkpoint are the same bit for bit.
    private func assertResumesInANewProcess(_ training: Training, test: String = #function,
                                            file: StaticString = #filePath, line: UInt = #line) throws {
        let testName = String(test.prefix { $0 != "(" })
        let marker = "DEEPLEARNING_CHECKPOINT_CHILD"
        if let value = ProcessInfo.processInfo.environment[marker], value.hasPrefix("\(testName) ") {
            let directory = URL(fileURLWithPath: String(value.dropFirst(testName.count + 1)))
            let path = { directory.appendingPathComponent($0).path }
            let (model, optimizer, schedule) = training.make(seed: 99)
            try model.load(from: path("model.safetensors"))
            let history = try Self.fit(
                model, optimizer, schedule, epochs: 10,
                files: Checkpointing(modelPath: path("resumed.safetensors"),
                                     checkpointPath: path("resumed.checkpoint"), every: 2),
                resumingFrom: path("checkpoint"))
            try Data(history.flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } })
                .write(to: directory.appendingPathComponent("resumed-history"))
            return
        }

        let (reference, referenceOptimizer, referenceSchedule) = training.make(seed: 1)
        let referenceHistory = try Self.fit(
            reference, referenceOptimizer, referenceSchedule, epochs: 10,
            files: Checkpointing(modelPath: path("reference.safetensors"),
                                 checkpointPath: path("reference.checkpoint"), every: 2))

        let (model, optimizer, schedule) = training.make(seed: 1)
        let firstHistory = try Self.fit(
            model, optimizer, schedule, epochs: 5,
            files: Checkpointing(modelPath: path("model.safetensors"), checkpointPath: path("checkpoint"),
                                 every: 2))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = ["\(String(reflecting: type(of: self)))/\(testName)"]
        child.environment = ProcessInfo.processInfo.environment.merging(
            [marker: "\(testName) \(directory.path)", "SWIFT_BACKTRACE": "enable=no"]) { $1 }
        let errorPipe = Pipe()
        child.standardError = errorPipe
        child.standardOutput = FileHandle.nullDevice
        try child.run()
        let errorOutput = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0, errorOutput, file: file, line: line)

        let resumedHistory = try Data(contentsOf: directory.appendingPathComponent("resumed-history"))
            .withUnsafeBytes { $0.bindMemory(to: UInt32.self).map { Float(bitPattern: $0) } }
        XCTAssertEqual(resumedHistory.count, 5, file: file, line: line)
        XCTAssertEqual((firstHistory + resumedHistory).map(\.bitPattern),
                       referenceHistory.map(\.bitPattern), file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.safetensors"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("reference.safetensors"))),
                       "the models after 10 epochs", file: file, line: line)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("resumed.checkpoint"))),
                       try Data(contentsOf: URL(fileURLWithPath: path("reference.checkpoint"))),
                       "the checkpoints after 10 epochs", file: file, line: line)
    }

    private static func multilayerPerceptron() -> Model { Model { Linear(2, 16); ReLU(); Linear(16, 3) } }

    func testSGDWithMomentumResumesInANewProcess() throws {
        try assertResumesInANewProcess(Training(
            makeModel: Self.multilayerPerceptron,
            makeOptimizer: { SGD(parameters: $0.parameters, learningRate: 0.1, momentum: 0.9,
                                 weightDecay: 1e-3) }))
    }

    func testAdamWithAScheduleResumesInANewProcess() throws {
        try assertResumesInANewProcess(Training(
            makeModel: Self.multilayerPerceptron,
            makeOptimizer: { Adam(parameters: $0.parameters, learningRate: 0.01) },
            makeSchedule: { CosineAnnealing(optimizer: $0, epochs: 10, minimum: 1e-4) }))
    }

    func testDropoutAndBatchNormResumeInANewProcess() throws {
        try assertResumesInANewProcess(Training(
            makeModel: {
                Model {
                    Linear(2, 16); BatchNorm(features: 16); ReLU(); Dropout(probability: 0.3)
                    Linear(16, 3)
                }
            },
            makeOptimizer: { SGD(parameters: $0.parameters, learningRate: 0.05, momentum: 0.9) }))
    }

    /// Every optimizer and schedule of the library, resumed in this process from fresh objects:
    /// the same losses and model as one uninterrupted run.
    func testEveryOptimizerAndScheduleResumes() throws {
        let trainings: [(String, Training)] = [
            ("SGD Nesterov", Training(
                makeModel: Self.multilayerPerceptron,
                makeOptimizer: { SGD(parameters: $0.parameters, learningRate: 0.1, momentum: 0.9,
                                     nesterov: true) },
                makeSchedule: { StepDecay(optimizer: $0, stepSize: 3, gamma: 0.5) })),
            ("AdamW", Training(
                makeModel: Self.multilayerPerceptron,
                makeOptimizer: { AdamW(parameters: $0.parameters, learningRate: 0.01) },
                makeSchedule: { StepDecay(optimizer: $0, stepSize: 2) })),
            ("RMSProp", Training(
                makeModel: Self.multilayerPerceptron,
                makeOptimizer: { RMSProp(parameters: $0.parameters, learningRate: 1e-3,
                                         momentum: 0.5, centered: true) })),
            ("Adam amsgrad maximize", Training(
                makeModel: Self.multilayerPerceptron,
                makeOptimizer: { Adam(parameters: $0.parameters, learningRate: 0.01, amsgrad: true,
                                      maximize: true) })),
            ("SGD maximize", Training(
                makeModel: Self.multilayerPerceptron,
                makeOptimizer: { SGD(parameters: $0.parameters, learningRate: 0.01, momentum: 0.9,
                                     maximize: true) })),
        ]
        for (name, training) in trainings {
            let files = Checkpointing(modelPath: path("\(name).safetensors"),
                                      checkpointPath: path("\(name).checkpoint"), every: 2)
            let (reference, referenceOptimizer, referenceSchedule) = training.make(seed: 1)
            let referenceHistory = try Self.fit(reference, referenceOptimizer, referenceSchedule,
                                                epochs: 10, files: files)
            let (model, optimizer, schedule) = training.make(seed: 1)
            let firstHistory = try Self.fit(model, optimizer, schedule, epochs: 5, files: files)
            let (resumed, resumedOptimizer, resumedSchedule) = training.make(seed: 2)
            try resumed.load(from: files.modelPath)
            let resumedHistory = try Self.fit(resumed, resumedOptimizer, resumedSchedule,
                                              epochs: 10, files: files,
                                              resumingFrom: files.checkpointPath)
            XCTAssertEqual((firstHistory + resumedHistory).map(\.bitPattern),
                           referenceHistory.map(\.bitPattern), name)
            XCTAssertEqual(resumed.parameters.flatMap(\.values).map(\.bitPattern),
                           reference.parameters.flatMap(\.values).map(\.bitPattern), name)
        }
    }

    func testSeededGeneratorContinuesFromItsState() {
        var generator = SeededGenerator(seed: 7)
        _ = generator.next()
        var copy = SeededGenerator(state: generator.state)
        XCTAssertEqual((0..<5).map { _ in generator.next() }, (0..<5).map { _ in copy.next() })
        XCTAssertFalse(SeededGenerator.isValidState([0, 0, 0, 0]))
        XCTAssertFalse(SeededGenerator.isValidState([1, 2, 3]))
    }

    // Bad checkpoints: an error naming the problem, and nothing changed.

    func testACheckpointOfAnotherModelOptimizerScheduleOrLoaderIsRefused() throws {
        let saved = try savedTraining()
        let checkpoint = path("checkpoint")

        let wider = Model { Linear(2, 9); ReLU(); Dropout(probability: 0.2); Linear(9, 3) }
        let widerOptimizer = SGD(parameters: wider.parameters, learningRate: 0.1, momentum: 0.9)
        try assertRefused(
            checkpoint, model: wider, optimizer: widerOptimizer,
            schedule: StepDecay(optimizer: widerOptimizer, stepSize: 1), loader: saved.loader,
            .mismatch("it was saved with model Linear(2 → 8); ReLU; Dropout(0.2); Linear(8 → 3), this training has Linear(2 → 9); ReLU; Dropout(0.2); Linear(9 → 3)"))

        let adam = Adam(parameters: saved.model.parameters)
        try assertRefused(
            checkpoint, model: saved.model, optimizer: adam, schedule: nil, loader: saved.loader,
            .mismatch("it was saved with optimizer SGD, this training has Adam"))

        let slower = SGD(parameters: saved.model.parameters, learningRate: 0.1, momentum: 0.5)
        try assertRefused(
            checkpoint, model: saved.model, optimizer: slower,
            schedule: StepDecay(optimizer: slower, stepSize: 1), loader: saved.loader,
            .mismatch("it was saved with optimizer.momentum 0.9, this training has 0.5"))

        try assertRefused(
            checkpoint, model: saved.model, optimizer: saved.optimizer, schedule: nil,
            loader: saved.loader,
            .mismatch("it was saved with schedule StepDecay, this training has none"))

        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        let otherBatches = try MiniBatchLoader(inputs: data.inputs, labels: data.labels, batchSize: 6)
        try assertRefused(
            checkpoint, model: saved.model, optimizer: saved.optimizer, schedule: saved.schedule,
            loader: otherBatches,
            .mismatch("it was saved with loader.batch_size 8, this training has 6"))
    }

    func testAModelStateOtherThanTheSavedOneIsRefused() throws {
        let saved = try savedTraining()
        saved.model.initializeParameters(seed: 5)
        let checkpoint = path("checkpoint")
        XCTAssertThrowsError(try saved.model.restoreCheckpoint(
            from: checkpoint, optimizer: saved.optimizer, schedule: saved.schedule, loader: saved.loader)) {
            XCTAssertTrue("\($0)".hasPrefix("the checkpoint \(checkpoint) does not fit this training: it was saved with another state of the model (model_digest "), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix("): load the model's file saved with it first"), "\($0)")
        }
        try saved.model.load(from: path("model.safetensors"))
        XCTAssertEqual(try saved.model.restoreCheckpoint(
            from: checkpoint, optimizer: saved.optimizer, schedule: saved.schedule, loader: saved.loader), 2)
    }

    func testAModelFileTruncatedOrIncompleteCheckpointIsRefused() throws {
        let saved = try savedTraining()
        let restore = { (checkpoint: String) in
            try saved.model.restoreCheckpoint(from: checkpoint, optimizer: saved.optimizer,
                                              schedule: saved.schedule, loader: saved.loader)
        }
        let modelFile = path("model.safetensors")
        try assertRefused(
            modelFile, model: saved.model, optimizer: saved.optimizer, schedule: saved.schedule,
            loader: saved.loader,
            .mismatch("it is not a training checkpoint (its __metadata__ lacks \"content\": \"training checkpoint\"; a model's file is read with Model.load(from:))"))

        let truncated = path("truncated")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path("checkpoint")))
        try bytes.dropLast(4).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try restore(truncated)) {
            guard case .truncatedTensor(truncated, _, _, _)? = $0 as? DeepLearningError else {
                return XCTFail("\($0)")
            }
        }

        try assertRefused(saved, rewrittenTo: "incomplete", by: { _, tensors in
            tensors["optimizer.momentum_buffer.1"] = nil
        }, .mismatch("it lacks tensor \"optimizer.momentum_buffer.1\", which this training has"))

        try assertRefused(saved, rewrittenTo: "reshaped", by: { _, tensors in
            tensors["optimizer.momentum_buffer.0"] = StoredTensor(
                name: "optimizer.momentum_buffer.0", value: .floats(Tensor(shape: [8, 2]), transposed: false))
        }, .mismatch("its tensor \"optimizer.momentum_buffer.0\" has shape [8, 2], this training's has [2, 8]"))

        try assertRefused(saved, rewrittenTo: "retyped", by: { _, tensors in
            tensors["optimizer.step.1"] = StoredTensor(name: "optimizer.step.1",
                                                       value: .floats(Tensor(shape: []), transposed: false))
        }, .mismatch("its tensor \"optimizer.step.1\" is F32, this training's is I64"))

        try assertRefused(saved, rewrittenTo: "extended", by: { _, tensors in
            tensors["optimizer.exp_avg.0"] = StoredTensor(name: "optimizer.exp_avg.0",
                                                          value: .floats(Tensor(shape: [2]), transposed: false))
        }, .mismatch("it has tensor \"optimizer.exp_avg.0\", which this training lacks"))

        try assertRefused(saved, rewrittenTo: "unmarked", by: { metadata, _ in
            metadata["optimizer.nesterov"] = nil
        }, .mismatch("it was saved with optimizer.nesterov none, this training has false"))
    }

    func testValuesNoTrainingReachesAreRefused() throws {
        let saved = try savedTraining()
        try assertRefused(saved, rewrittenTo: "shuffled", by: { _, tensors in
            guard case let .integers(order) = tensors["loader.order"]!.value else { return }
            order.values[1] = order.values[0]
        }, .invalid("its loader.order is not a permutation of the indices 0..<30"))

        try assertRefused(saved, rewrittenTo: "zero", by: { _, tensors in
            guard case let .integers(state) = tensors["model.2.generator"]!.value else { return }
            state.values = [0, 0, 0, 0]
        }, .invalid("its model.2.generator is all zeros, a state no generator reaches"))

        try assertRefused(saved, rewrittenTo: "negative", by: { _, tensors in
            guard case let .floats(rate, _) = tensors["optimizer.learning_rate"]!.value else { return }
            rate.value[0] = -1
        }, .invalid("its optimizer.learning_rate -1.0 is not a finite rate ≥ 0"))

        // Refused as the optimizers' initializers and `learningRate` refuse it.
        try assertRefused(saved, rewrittenTo: "infinite", by: { _, tensors in
            guard case let .floats(rate, _) = tensors["optimizer.learning_rate"]!.value else { return }
            rate.value[0] = .infinity
        }, .invalid("its optimizer.learning_rate inf is not a finite rate ≥ 0"))

        for (counter, count) in [("optimizer.step.2", -3), ("schedule.epoch", Int64.max)] {
            try rewrite(path("checkpoint"), to: path("count"), setting: counter, to: count)
            try assertRefused(path("count"), model: saved.model, optimizer: saved.optimizer,
                              schedule: saved.schedule, loader: saved.loader,
                              .invalid("its \(counter) \(count) is not a count training reaches (0 through 2^53)"))
        }
    }

    /// The fuzz target's seed checkpoints (Fuzz/Corpus/FuzzCheckpoint, written as
    /// Fuzz/Corpus/README.md shows) restore into the training they were saved from: a change
    /// of the checkpoint's format, or of that training, fails here rather than leaving the
    /// fuzz run with seeds that no longer restore.
    func testFuzzSeedCheckpointsRestore() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/Corpus/FuzzCheckpoint").standardized
        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        for epoch in 1...2 {
            let model = Model { Linear(2, 8); ReLU(); Dropout(probability: 0.2); Linear(8, 3) }
            model.initializeParameters(seed: 1)
            let optimizer = Adam(parameters: model.parameters, learningRate: 0)
            let schedule = StepDecay(optimizer: optimizer, stepSize: 2)
            let loader = try MiniBatchLoader(inputs: data.inputs, labels: data.labels, batchSize: 8,
                                             seed: 4)
            let seed = corpus.appendingPathComponent("after-epoch-\(epoch).checkpoint").path
            XCTAssertEqual(try model.restoreCheckpoint(from: seed, optimizer: optimizer,
                                                       schedule: schedule, loader: loader), epoch)
            XCTAssertEqual(schedule.epoch, epoch)
            XCTAssertEqual(optimizer.checkpointContents.counters.map(\.counter.value),
                           [Int64](repeating: Int64(4 * epoch), count: 4))
        }
    }

    /// Asserts that `fit` with checkpoints at `modelPath` and `checkpointPath` stops before
    /// training, as they name one file.
    private func assertFitStops(modelPath: String, checkpointPath: String,
                                test: String = #function) throws {
        let model = Model { Linear(2, 3) }
        let data = spiral(pointsPerClass: 2, classes: 3, seed: 0)
        try assertStops(withMessage: "name one file", test: test) {
            _ = try? model.fit(data.inputs, labels: data.labels,
                               optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                               epochs: 1, batchSize: 2,
                               checkpoints: Checkpointing(modelPath: modelPath, checkpointPath: checkpointPath))
        }
    }

    /// A checkpoint path that saving would refuse throws before training, which leaves the
    /// parameters as they were.
    func testFitChecksTheCheckpointPathsBeforeTraining() throws {
        let model = Model { Linear(2, 3) }
        model.initializeParameters(seed: 1)
        let before = model.parameters.flatMap(\.values)
        let data = spiral(pointsPerClass: 2, classes: 3, seed: 0)
        let missing = path("missing/run.checkpoint")
        assertThrows(.unwritableFile(path: missing, reason: "the directory \(path("missing")) does not exist"),
                     message: "cannot write \(missing): the directory \(path("missing")) does not exist") {
            try model.fit(data.inputs, labels: data.labels,
                          optimizer: SGD(parameters: model.parameters, learningRate: 0.1),
                          epochs: 1, batchSize: 2,
                          checkpoints: Checkpointing(modelPath: path("run.safetensors"),
                                                     checkpointPath: missing))
        }
        XCTAssertEqual(model.parameters.flatMap(\.values), before)
    }

    /// An interval below 1, set after the checkpoints were made, stops there (`fit` would
    /// divide by it after the first epoch).
    func testSettingAnIntervalBelowOneStops() throws {
        try assertStops(withMessage: "Checkpointing: interval 0 must be at least 1") {
            var files = Checkpointing(modelPath: path("run.safetensors"),
                                      checkpointPath: path("run.checkpoint"))
            files.interval = 0
        }
    }

    func testFitStopsWhenTheCheckpointIsTheModelsFile() throws {
        try assertFitStops(modelPath: path("run.safetensors"), checkpointPath: path("run.safetensors"))
    }

    func testFitStopsWhenTheCheckpointIsTheModelsFileThroughDotDot() throws {
        try FileManager.default.createDirectory(atPath: path("runs"), withIntermediateDirectories: false)
        try assertFitStops(modelPath: path("run.safetensors"), checkpointPath: path("runs/./../run.safetensors"))
    }

    func testFitStopsWhenTheCheckpointIsTheModelsFileThroughALink() throws {
        try FileManager.default.createSymbolicLink(atPath: path("alias"),
                                                   withDestinationPath: path("run.safetensors"))
        try assertFitStops(modelPath: path("run.safetensors"), checkpointPath: path("alias"))
    }

    /// A checkpoint read as a model's file is refused as what it is, and changes nothing.
    func testLoadingACheckpointAsAModelIsRefused() throws {
        let saved = try savedTraining()
        let checkpoint = path("checkpoint")
        let before = saved.model.parameters.flatMap(\.values)
        let problem = "it is a training checkpoint (its __metadata__ has \"content\": \"training checkpoint\"), not a model's file; resume training from it with fit(..., resumingFrom:) or restoreCheckpoint(from:optimizer:)"
        assertThrows(.invalidHeader(path: checkpoint, problem: problem),
                     message: "the header of \(checkpoint) is invalid: \(problem)") {
            try saved.model.load(from: checkpoint)
        }
        XCTAssertEqual(saved.model.parameters.flatMap(\.values), before)
    }

    /// `fit` refuses a checkpoint beyond its epochs before training, changing nothing.
    func testFitRefusesACheckpointBeyondItsEpochs() throws {
        let saved = try savedTraining()
        let before = saved.model.parameters.flatMap(\.values)
        let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)
        let checkpoint = path("checkpoint")
        assertThrows(.checkpointMismatch(path: checkpoint, problem: "it was saved after epoch 2, beyond the 1 epoch of this training"),
                     message: "the checkpoint \(checkpoint) does not fit this training: it was saved after epoch 2, beyond the 1 epoch of this training") {
            try saved.model.fit(data.inputs, labels: data.labels, optimizer: saved.optimizer,
                                schedule: saved.schedule, epochs: 1, batchSize: 8, seed: 4,
                                resumingFrom: checkpoint)
        }
        XCTAssertEqual(saved.model.parameters.flatMap(\.values), before)
        XCTAssertEqual(saved.schedule.epoch, 2)
        XCTAssertEqual(try saved.model.fit(data.inputs, labels: data.labels, optimizer: saved.optimizer,
                                           schedule: saved.schedule, epochs: 2, batchSize: 8, seed: 4,
                                           resumingFrom: checkpoint), [])
    }
}
