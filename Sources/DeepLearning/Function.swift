import Synchronization

/// An operator of a network (a layer) with forward and backward passes of its own: the
/// article's `Function`. Every `Function` is also a `Layer` (callable on tensors as a
/// recorded operation); `Model` fuses the passes of a model made only of `Function`s.
///
/// `forward(_:)` transforms its input and keeps what `backward(_:)` needs. `backward(_:)`
/// takes dLoss/dOutput, *accumulates* the gradients of the parameters (so gradients of several
/// batches add up until the optimizer's `zeroGrad()`), and returns dLoss/dInput.
///
/// The tensors a function returns are its own buffers, reused by its next call: copy what you
/// want to keep. Implementations keep their buffers while the batch size does not grow, so a
/// training step allocates nothing after the first batch.
///
/// ```swift
/// let layer = Linear(2, 3)
/// let y = layer.forward(Tensor(shape: [4, 2]))   // shape [4, 3]
/// let dx = layer.backward(Tensor(shape: [4, 3])) // shape [4, 2]
/// ```
public protocol Function: Layer {
    /// The output for `input`, remembering what `backward(_:)` needs.
    func forward(_ input: Tensor) -> Tensor
    /// dLoss/dInput from dLoss/dOutput of the last `forward(_:)`; accumulates the parameters'
    /// gradients.
    func backward(_ outputGradient: Tensor) -> Tensor
    /// Accumulates the parameters' gradients from dLoss/dOutput of the last `forward(_:)`
    /// without computing dLoss/dInput: all the first layer of a network needs. By default it
    /// calls `backward(_:)`.
    func accumulateParameterGradients(_ outputGradient: Tensor)
    /// The fewest samples a batch must hold for the layer to train on it, given the shape of
    /// one sample of its input (the input's shape without the batch dimension). By default 1;
    /// `BatchNorm` asks for 2 when a sample holds a single value per feature. `Model.fit` asks
    /// before training, and throws `DeepLearningError.batchTooSmall` rather than train on a
    /// batch the layer would stop on: every function of the model (of nested models too), and
    /// every function that a layer written from operations calls on a sample through the
    /// library's `callAsFunction(_:)` (a function of your own with a `callAsFunction(_:)` of
    /// its own is asked only where a model holds it directly).
    func smallestTrainingBatch(sampleShape: [Int]) -> Int
}

/// A function's state is listed by the function itself, not found by reflection (its stored
/// tensors include the buffers of its forward and backward passes):
/// - `parameters`: the tensors an optimizer updates; by default none.
/// - `namedParameters`: `parameters` with a name each, unique within the layer ("weight",
///   "bias"): the names `Model.save(to:)` writes after the layer's path ("0.weight"). By
///   default "0", "1", ...
/// - `namedBuffers`: state that is not a parameter but belongs to a trained model, with a
///   name each, unique together with `namedParameters`: `BatchNorm`'s "running_mean" and
///   "running_var". By default none.
/// - `namedCounters`: integer state: `BatchNorm`'s "num_batches_tracked". By default none.
/// - `namesTransposedInFiles`: matrices that files hold transposed because PyTorch's layout
///   is the transpose of the layer's: `Linear`'s "weight", `[inputSize, outputSize]` in memory
///   and `[outputSize, inputSize]` in files.
/// - `namedSublayers`: none (a function runs its own passes).
/// - `initializeParameters(using:)` draws the parameters afresh (and reseeds any random
///   state, such as dropout's); `setTraining(_:)` switches `Dropout` and `BatchNorm` between
///   training and evaluation; `trainingGenerator` is the generator the layer draws from in
///   training (`Dropout`'s masks), not part of the model's file: training checkpoints save
///   and restore it.
extension Function {
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        _ = backward(outputGradient)
    }
    public var parameters: [Tensor] { [] }
    public var namedParameters: [(name: String, tensor: Tensor)] {
        parameters.enumerated().map { (name: String($0.offset), tensor: $0.element) }
    }
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    public var namedCounters: [(name: String, counter: Counter)] { [] }
    public var namedSublayers: [(name: String, layer: any Layer)] { [] }
    public func smallestTrainingBatch(sampleShape: [Int]) -> Int { 1 }

    /// The function as one recorded operation, for functions without a graph form of their
    /// own: `forward(_:)` on the input detached from the graph (its result copied), and a node
    /// whose backward pass calls `backward(_:)`, which accumulates the parameters' gradients
    /// itself. Such a function keeps one call's state: calling it again before `backward()`
    /// makes the first call's node stop with a message. The library's layers record per call.
    /// The node saves the input and the parameters, as the library's layers' nodes do: a
    /// write to them before `backward()` (an optimizer's step) stops the backward pass with a
    /// message.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        TrainingBatchProbe.current?.ask(self, input: input)
        // Detached: what the function keeps of its input (for its backward pass) does not
        // hold the input's node, which, had this function computed the input too, holds the
        // function (a reference cycle that would never be freed).
        let output = forward(input.detached())
        let result = Tensor(uninitializedShape: output.shape)
        result.value.update(from: output.value, count: output.count)
        if GradientRecording.isEnabled
            && (input.isGradientRequired || parameters.contains(where: \.isGradientRequired)) {
            result.attach(FunctionNode(self, input: input, output: output))
        } else {
            FunctionCalls.recordUnrecordedCall(of: self)
        }
        return result
    }
}

extension Function {
    /// Draws the parameters (`initializeParameters(using:)`) from `seed`, or from a random
    /// seed when nil: what the `seed:` argument of a layer's initializer means.
    func initializeParameters(seed: UInt64?) {
        var generator = SeededGenerator(seed: seed ?? .random(in: .min ... .max))
        initializeParameters(using: &generator)
    }
}

/// How `Model.fit` learns, before training, whether the functions that a layer written from
/// operations calls can train on the smallest batch: only running the layer tells their
/// inputs' shapes. While a probe is current (per task, as `GradientRecording`), the
/// `callAsFunction(_:)` of the library's functions that need more than one sample (and the
/// default one of `Function`) asks it, and it keeps the first function that needs more
/// samples than `batch`.
final class TrainingBatchProbe: Sendable {
    @TaskLocal static var current: TrainingBatchProbe?

    /// The batch every function must train on: the loader's smallest.
    let batch: Int
    private let tooSmall = Mutex<(layer: String, needs: Int)?>(nil)

    init(batch: Int) { self.batch = batch }

    /// The first function asked that cannot train on `batch` samples (its description) and
    /// the samples it needs; nil while there is none.
    var firstTooSmall: (layer: String, needs: Int)? { tooSmall.withLock { $0 } }

    /// Asks `function`, called on `input`, for the samples it needs to train. The probe runs
    /// one sample of the model: the function's rows for it (`input.shape[0]`, more than one
    /// where a layer folds a dimension into the batch) come with every sample of a batch.
    func ask(_ function: some Function, input: Tensor) {
        let rows = function.smallestTrainingBatch(sampleShape: Array(input.shape.dropFirst()))
        let rowsPerSample = max(input.shape.first ?? 1, 1)
        let needs = (rows + rowsPerSample - 1) / rowsPerSample
        guard needs > batch else { return }
        tooSmall.withLock { if $0 == nil { $0 = ("\(function)", needs) } }
    }
}

/// Stops with a message naming `layer` when `tensor` is not a matrix whose width is `width`
/// (any width when nil). Active in release builds.
func requireMatrix(_ tensor: Tensor, width: Int? = nil, for layer: some Function,
                   role: String = "input") {
    let fits = tensor.shape.count == 2 && (width == nil || tensor.shape[1] == width)
    require(fits, "\(layer): \(role) of shape \(tensor.shape) does not fit; expected [batch, \(width.map(String.init) ?? "features")]")
}

/// The output of `layer`'s last forward pass, after checking that `outputGradient` has its
/// shape; stops with a message naming the layer otherwise. Active in release builds.
func requireLastOutput(_ output: Tensor?, matching outputGradient: Tensor,
                       for layer: some Function) -> Tensor {
    requireLastOutput(output, for: layer, gradientShape: outputGradient.shape) {
        $0.shape == outputGradient.shape
    }
}

/// `requireLastOutput(_:matching:for:)` for an output gradient that is not a tensor yet (a
/// fused kernel will compute it), of shape `gradientShape`, which `fits` checks against the
/// last output.
func requireLastOutput(_ output: Tensor?, for layer: some Function,
                       gradientShape: @autoclosure () -> [Int],
                       fits: (Tensor) -> Bool) -> Tensor {
    guard let output else { fatalError("\(layer): backward called before forward") }
    requireOutputGradient(fits(output), shape: gradientShape(), lastOutputShape: output.shape,
                          for: layer)
    return output
}

/// Stops with a message naming `layer` and both shapes unless `fits`, the check of an output
/// gradient of shape `gradientShape` against the last output's shape.
func requireOutputGradient(_ fits: Bool, shape gradientShape: @autoclosure () -> [Int],
                           lastOutputShape: @autoclosure () -> [Int], for layer: some Function,
                           file: StaticString = #fileID, line: UInt = #line) {
    require(fits,
            "\(layer): output gradient of shape \(gradientShape()) does not match the last output's shape \(lastOutputShape())",
            file: file, line: line)
}

/// Stores `tensor` in `slot` unless it is there already: a training step hands a layer the
/// same buffers every batch, and skipping the store saves a retain and a release.
@inline(__always)
func keep(_ tensor: Tensor, in slot: inout Tensor?) {
    if slot !== tensor { slot = tensor }
}
