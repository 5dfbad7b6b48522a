import DeepLearning
import Foundation

/// The data every input's training runs on: 30 spiral points of 3 classes. libFuzzer calls
/// the entry point from one thread at a time, hence `nonisolated(unsafe)`.
nonisolated(unsafe) let data = spiral(pointsPerClass: 10, classes: 3, seed: 0)

/// Where each input is written for `fit` to resume from (restoring reads a file).
let checkpointPath = FileManager.default.temporaryDirectory
    .appendingPathComponent("FuzzCheckpoint-\(getpid()).checkpoint").path

/// libFuzzer's entry point: resumes, from the bytes as a training checkpoint, the training of
/// the seed files in Corpus/FuzzCheckpoint/ (Corpus/README.md), made afresh for each input so
/// that no input changes what the next one is checked against: a model with every kind of
/// state a checkpoint holds (Adam's step counts and moments, a schedule's epoch, the loader's
/// shuffling, `Dropout`'s generator), trained through epoch 3. A thrown error (a checkpoint
/// refused, a loss that became NaN) is the library's answer to bad input; a crash, a trap, a
/// sanitizer's report or a hang is a finding, in restoring or in the training that follows.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    // Rewritten in place (not replaced through a temporary file, as `createFile` would).
    let file = open(checkpointPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard file >= 0, count == 0 || write(file, start, count) == count else {
        fatalError("FuzzCheckpoint: cannot write \(checkpointPath): \(String(cString: strerror(errno)))")
    }
    close(file)
    let model = Model { Linear(2, 8); ReLU(); Dropout(probability: 0.2); Linear(8, 3) }
    model.initializeParameters(seed: 1)
    // A learning rate of 0 keeps the model's state, and with it the digest the seed
    // checkpoint recorded, whatever the CPU's rounding (Corpus/README.md).
    let optimizer = Adam(parameters: model.parameters, learningRate: 0)
    let schedule = StepDecay(optimizer: optimizer, stepSize: 2)
    _ = try? model.fit(data.inputs, labels: data.labels, optimizer: optimizer, schedule: schedule,
                       epochs: 3, batchSize: 8, seed: 4, resumingFrom: checkpointPath)
    return 0
}
