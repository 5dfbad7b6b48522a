import Foundation
import XCTest
@testable import DeepLearning

/// What `fit` and `saveCheckpoint` write: the model's file and the checkpoint replaced
/// together, never one without the other.
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
}
