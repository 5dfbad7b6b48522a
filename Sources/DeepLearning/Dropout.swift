import CKernels

/// Inverted dropout: in training, each element is zeroed with probability `probability` and
/// the kept ones are scaled by 1 / (1 − probability), so that evaluation is the identity. As in
/// PyTorch, zeroing multiplies by 0: a dropped NaN or infinity becomes NaN, not 0.
/// Which elements are dropped comes from a seedable generator (reseeded by
/// `Model.initializeParameters(seed:)`), a fresh mask every forward pass; backward uses the
/// same mask. Any shape.
///
/// ```swift
/// let model = Model { Linear(784, 256); ReLU(); Dropout(probability: 0.2); Linear(256, 10) }
/// ```
public final class Dropout: Function {
    /// The probability that training zeroes an element, in [0, 1) (default 0.5).
    public let probability: Float
    /// Training (drop and scale) or evaluation (identity); set by `Model`.
    public private(set) var isTraining = true
    private var generator: SeededGenerator
    /// The mask of the last training forward pass, as its seed; nil after an identity pass.
    private var maskSeed: UInt64?
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// Dropout of `probability` (in [0, 1)), its masks drawn from `seed` (random when nil).
    public init(probability: Float = 0.5, seed: UInt64? = nil) {
        requireSetting(probability, in: 0..<1, "Dropout", "probability", mustBe: "in [0, 1)")
        self.probability = probability
        generator = SeededGenerator(seed: seed ?? UInt64.random(in: .min ... .max))
    }

    public var description: String { "Dropout(\(probability))" }

    public func setTraining(_ isTraining: Bool) { self.isTraining = isTraining }

    public func initializeParameters(using generator: inout SeededGenerator) {
        self.generator = SeededGenerator(seed: generator.next())
    }

    /// The mask generator (never nil here); setting nil keeps it.
    public var trainingGenerator: SeededGenerator? {
        get { generator }
        set { if let newValue { generator = newValue } }
    }

    /// Dropout as a recorded operation: in training a fresh mask (the same kernels and draws
    /// as `forward`), kept by the call's node as its seed; in evaluation the input itself.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        guard isTraining && probability > 0 else { return input }
        let seed = generator.next()
        let output = Tensor(uninitializedShape: input.shape)
        ck_dropout_forward(Int64(input.count), input.value, output.value, probability, seed)
        if recordsGradient(input) {
            output.attach(DropoutNode(self, input: input, maskSeed: seed))
        }
        return output
    }

    public func forward(_ input: Tensor) -> Tensor {
        guard isTraining && probability > 0 else {
            maskSeed = nil
            return input
        }
        let seed = generator.next()
        let output = Tensor.reusing(output, shape: input.shape)
        ck_dropout_forward(Int64(input.count), input.value, output.value, probability, seed)
        maskSeed = seed
        self.output = output
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let maskSeed else { return outputGradient }
        _ = requireLastOutput(output, matching: outputGradient, for: self)
        let inputGradient = Tensor.reusing(inputGradient, shape: outputGradient.shape)
        ck_dropout_backward(Int64(outputGradient.count), outputGradient.value,
                            inputGradient.value, probability, maskSeed)
        self.inputGradient = inputGradient
        return inputGradient
    }
}

/// The backward pass of one training call of a `Dropout`: dx (+)= dy · mask / (1 − p).
final class DropoutNode: GradientNode {
    private let probability: Float
    private let maskSeed: UInt64

    init(_ layer: Dropout, input: Tensor, maskSeed: UInt64) {
        probability = layer.probability
        self.maskSeed = maskSeed
        super.init(.call(of: layer), inputs: [input], outputShape: input.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        target.overwriteOrAdd { dx in
            ck_dropout_backward(Int64(target.count), outputGradient.value, dx, probability,
                                maskSeed)
        }
    }
}
