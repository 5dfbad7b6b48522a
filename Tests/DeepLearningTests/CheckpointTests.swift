import Foundation
import XCTest
@testable import DeepLearning

/// Training checkpoints: training 10 epochs gives the same bits as training 5, saving, and
/// resuming in a new process for 5 more; bad checkpoints throw and change nothing.
final class CheckpointTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws { directory = try makeTemporaryDirectory() }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

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
}
