import DeepLearning

/// The model every input is loaded into, made once: every kind of tensor a model file stores
/// (a `Conv2D`'s and a `Linear`'s F32 parameters, a `BatchNorm`'s F32 parameters and buffers
/// and its I64 `num_batches_tracked`), the architecture of the seed files in
/// Corpus/FuzzSafeTensors/ (Corpus/README.md). A successful load changes only its values,
/// which no later load's checks depend on. libFuzzer calls the entry point from one thread at a
/// time, hence `nonisolated(unsafe)`.
nonisolated(unsafe) let model = Model {
    Conv2D(inputChannels: 1, outputChannels: 2, kernelSize: 3, padding: 1)
    BatchNorm(features: 2)
    ReLU()
    MaxPool2D(kernelSize: 2)
    Flatten()
    Linear(8, 3)
    ReLU()
    Linear(3, 3)
}

/// The batch a loaded model trains on: 3 images of 1 × 4 × 4 (`nonisolated(unsafe)` as
/// `model`).
nonisolated(unsafe) let input = Tensor(shape: [3, 1, 4, 4], values: (0..<48).map { Float($0 % 7) / 7 })

/// libFuzzer's entry point: loads the bytes, as they are, as a safetensors file into `model`,
/// and when they load, runs a training pass (forward, which counts `num_batches_tracked` on,
/// and backward) with what they hold. A thrown error is the reader's answer to bad input; a
/// crash, a trap, a sanitizer's report or a hang is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard (try? model.load(fromSafeTensorsBytes: Array(UnsafeBufferPointer(start: start, count: count)),
                           source: "fuzz input")) != nil else { return 0 }
    _ = model.backward(model.forward(input))
    return 0
}
