import CKernels

/// Batch normalization, as PyTorch's `BatchNorm1d` (input `[batch, features]`) and
/// `BatchNorm2d` (input `[batch, features, height, width]`, one feature per channel).
///
/// In training mode each feature is normalized with the batch's mean and biased variance
/// (over the batch, and the pixels of NCHW input), `y = weight · (x − mean) / √(var + eps) +
/// bias`, and the running statistics move towards the batch's: `running = (1 − momentum) ·
/// running + momentum · batch statistic`, the variance's being the unbiased one (n / (n − 1)),
/// as PyTorch does. In evaluation mode it normalizes with the running statistics instead.
///
/// Learnable parameters `weight` (γ, starts at 1) and `bias` (β, starts at 0); the running
/// statistics (`running_mean` from 0, `running_var` from 1) are buffers and the number of
/// training forward passes (`num_batches_tracked`, from 0) a counter, which `Model.save(to:)`
/// saves and `Model.load(from:)` restores, as PyTorch's `state_dict` holds them.
///
/// ```swift
/// let model = Model { Linear(784, 256); BatchNorm(features: 256); ReLU(); Linear(256, 10) }
/// let images = Model { Conv2D(inputChannels: 1, outputChannels: 8, kernelSize: 3)
///                      BatchNorm(features: 8); ReLU() }
/// ```
public final class BatchNorm: Function {
    /// The number of features: the width of `[batch, features]` input, the channels of NCHW
    /// input.
    public let features: Int
    /// How far the running statistics move towards each training batch's, in [0, 1] (default
    /// 0.1, PyTorch's).
    public let momentum: Float
    /// Added to the variance before its square root (default 1e-5): finite and above 0, so
    /// that a feature constant over a batch (variance 0) normalizes to β rather than NaN.
    public let eps: Float
    /// γ, `[features]`.
    public let weight: Tensor
    /// β, `[features]`.
    public let bias: Tensor
    /// The running mean, `[features]`.
    public let runningMean: Tensor
    /// The running (unbiased) variance, `[features]`.
    public let runningVariance: Tensor
    /// The number of forward passes in training mode since the last `initializeParameters`:
    /// PyTorch's `num_batches_tracked`.
    public let batchesTracked = Counter()
    /// Training (batch statistics) or evaluation (running statistics); set by `Model`.
    public private(set) var isTraining = true

    /// The statistics the last forward pass normalized with, for backward.
    private let savedMean: Tensor
    private let savedInverseStd: Tensor
    /// Whether the last forward pass used the batch's statistics (training mode).
    private var usedBatchStatistics = true
    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Normalization of `features` features (channels for NCHW input).
    public init(features: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        require(features >= 1, "BatchNorm: features must be at least 1, got \(features)")
        requireSetting(momentum, in: 0...1, BatchNorm.description(features), "momentum",
                       mustBe: "in [0, 1]")
        // As PyTorch, which refuses eps ≤ 0 in training: a feature constant over the batch
        // has variance 0, and eps 0 would divide by its square root.
        requireSetting(eps, in: .leastNonzeroMagnitude ... .greatestFiniteMagnitude,
                       BatchNorm.description(features), "eps", mustBe: "a finite number above 0")
        self.features = features
        self.momentum = momentum
        self.eps = eps
        (weight, bias, runningMean, runningVariance, savedMean, savedInverseStd) = (
            Tensor(parameterShape: [features],
                   named: "\(BatchNorm.description(features)): the weight"),
            Tensor(parameterShape: [features], named: "\(BatchNorm.description(features)): the bias"),
            Tensor(shape: [features]), Tensor(shape: [features]), Tensor(shape: [features]),
            Tensor(shape: [features]))
        resetParametersAndStatistics()
    }

    public var description: String { BatchNorm.description(features) }

    /// The description of a layer of `features` features, for messages before the layer is
    /// made.
    private static func description(_ features: Int) -> String { "BatchNorm(\(features))" }

    public var parameters: [Tensor] { [weight, bias] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [(name: "weight", tensor: weight), (name: "bias", tensor: bias)]
    }

    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [(name: "running_mean", tensor: runningMean), (name: "running_var", tensor: runningVariance)]
    }

    public var namedCounters: [(name: String, counter: Counter)] {
        [(name: "num_batches_tracked", counter: batchesTracked)]
    }

    public func setTraining(_ isTraining: Bool) { self.isTraining = isTraining }

    /// 2 when a sample holds one value per feature (`[features]`, or NCHW with one pixel):
    /// the batch statistics need more than one value per feature. 1 otherwise.
    public func smallestTrainingBatch(sampleShape: [Int]) -> Int {
        sampleShape.dropFirst().reduce(1, *) > 1 ? 1 : 2
    }

    /// γ = 1, β = 0 and fresh running statistics (mean 0, variance 1, no batches tracked), as
    /// PyTorch's `reset_parameters`.
    public func initializeParameters(using generator: inout SeededGenerator) {
        resetParametersAndStatistics()
    }

    private func resetParametersAndStatistics() {
        weight.value.update(repeating: 1, count: features)
        bias.value.update(repeating: 0, count: features)
        runningMean.value.update(repeating: 0, count: features)
        runningVariance.value.update(repeating: 1, count: features)
        batchesTracked.value = 0
        for tensor in [weight, bias, runningMean, runningVariance] { tensor.countInPlaceWrite() }
    }

    /// The input's (batch, pixels) after checking that it is `[batch, features]` or
    /// `[batch, features, height, width]`.
    private func layout(of shape: [Int]) -> (batch: Int, pixels: Int) {
        require((shape.count == 2 || shape.count == 4) && shape[1] == features,
                "\(self): input of shape \(shape) does not fit; expected [batch, \(features)] or [batch, \(features), height, width]")
        return (shape[0], shape.count == 4 ? shape[2] * shape[3] : 1)
    }

    /// Batch normalization as a recorded operation (the kernels of `forward` and `backward`):
    /// the batch's statistics in training (moving the running ones), the running ones in
    /// evaluation. The call's node keeps the statistics it normalized with. Inside a layer
    /// written from operations, `Model.fit` learns here whether it can train on the smallest
    /// batch (`TrainingBatchProbe`).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        TrainingBatchProbe.current?.ask(self, input: input)
        let output = Tensor(uninitializedShape: input.shape)
        let statisticsShape = [features]
        let mean = Tensor(uninitializedShape: statisticsShape)
        let inverseStd = Tensor(uninitializedShape: statisticsShape)
        normalize(input, into: output, mean: mean, inverseStd: inverseStd)
        if recordsGradient([input, weight, bias]) {
            output.attach(BatchNormNode(self, input: input, output: output, mean: mean,
                                        inverseStd: inverseStd, batchStatistics: isTraining))
        }
        return output
    }

    /// Normalizes with the batch's statistics (training, updating the running ones and
    /// counting the batch in `batchesTracked`) or the running statistics (evaluation).
    public func forward(_ input: Tensor) -> Tensor {
        let output = Tensor.reusing(output, shape: input.shape)
        normalize(input, into: output, mean: savedMean, inverseStd: savedInverseStd)
        usedBatchStatistics = isTraining
        self.input = input
        self.output = output
        return output
    }

    /// Writes `output` and the statistics it normalized with (`[features]` each), per
    /// `isTraining`.
    private func normalize(_ input: Tensor, into output: Tensor, mean: Tensor,
                           inverseStd: Tensor) {
        let (batch, pixels) = layout(of: input.shape)
        let (n, c, p) = (Int64(batch), Int64(features), Int64(pixels))
        if isTraining {
            require(batch * pixels > 1,
                    "\(self): expected more than 1 value per channel when training, got input of shape \(input.shape)")
            ck_batch_norm_forward_training(n, c, p, input.value, weight.value, bias.value, eps,
                                           momentum, output.value, mean.value, inverseStd.value,
                                           runningMean.value, runningVariance.value)
            batchesTracked.value += 1
            runningMean.countInPlaceWrite()
            runningVariance.countInPlaceWrite()
        } else {
            ck_batch_norm_forward_inference(n, c, p, input.value, weight.value, bias.value,
                                            runningMean.value, runningVariance.value, eps,
                                            output.value, mean.value, inverseStd.value)
        }
    }

    /// dγ += Σ dy·x̂, dβ += Σ dy, and returns dx (through the batch statistics after a
    /// training pass, through the fixed affine map after an evaluation pass).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let inputGradient = Tensor.reusing(inputGradient, shape: outputGradient.shape)
        accumulateGradients(outputGradient, inputGradient: inputGradient.value)
        self.inputGradient = inputGradient
        return inputGradient
    }

    /// dγ and dβ without dx.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        accumulateGradients(outputGradient, inputGradient: nil)
    }

    private func accumulateGradients(_ outputGradient: Tensor,
                                     inputGradient: UnsafeMutablePointer<Float>?) {
        let outputGradient = outputGradient.separated(fromGradientsOf: weight, bias)
        _ = requireLastOutput(output, matching: outputGradient, for: self)
        guard let input else { fatalError("\(self): backward called before forward") }
        let (batch, pixels) = layout(of: input.shape)
        ck_batch_norm_backward(Int64(batch), Int64(features), Int64(pixels), input.value,
                               outputGradient.value, weight.value, savedMean.value,
                               savedInverseStd.value, usedBatchStatistics ? 1 : 0,
                               inputGradient, weight.writableGradientPointer,
                               bias.writableGradientPointer)
    }
}

/// The backward pass of one call of a `BatchNorm`, from the statistics it normalized with:
/// dγ (+)= Σ dy·x̂, dβ (+)= Σ dy, dx (through the batch statistics after a training call).
final class BatchNormNode: GradientNode {
    private let features: Int
    private let pixels: Int
    private let batchStatistics: Bool

    init(_ layer: BatchNorm, input: Tensor, output: Tensor, mean: Tensor, inverseStd: Tensor,
         batchStatistics: Bool) {
        features = layer.features
        pixels = input.shape.count == 4 ? input.shape[2] * input.shape[3] : 1
        self.batchStatistics = batchStatistics
        super.init(.call(of: layer), inputs: [input, layer.weight, layer.bias],
                   saving: [input, layer.weight, mean, inverseStd], outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        // ck_batch_norm_backward adds into dγ and dβ: zeros first where they are overwritten,
        // a scratch buffer where one needs no gradient.
        var scratch: [TensorStorage] = []
        func parameterGradient(_ input: Int) -> UnsafeMutablePointer<Float> {
            guard let target = gradientTarget(forInput: input) else {
                scratch.append(TensorStorage.make(count: features, zeroed: false,
                                                  for: "BatchNorm: a scratch gradient"))
                return scratch.last!.base
            }
            if !target.accumulate { target.buffer.update(repeating: 0, count: features) }
            return target.buffer
        }
        let dGamma = parameterGradient(1)
        let dBeta = parameterGradient(2)
        func run(_ dx: UnsafeMutablePointer<Float>?) {
            ck_batch_norm_backward(Int64(outputShape[0]), Int64(features), Int64(pixels),
                                   savedValue(0), outputGradient.value, savedValue(1),
                                   savedValue(2), savedValue(3), batchStatistics ? 1 : 0, dx,
                                   dGamma, dBeta)
            withExtendedLifetime(scratch) {}
        }
        guard let dx = gradientTarget(forInput: 0) else { return run(nil) }
        dx.overwriteOrAdd(run)
    }
}
