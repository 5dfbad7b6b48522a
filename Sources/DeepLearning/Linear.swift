import CKernels

/// A fully connected layer: `y = x · W + b`.
///
/// Shapes: input `x` is `[batch, inputSize]`, `weight` W is `[inputSize, outputSize]` (the
/// article's layout, so the forward pass is one plain matrix product), `bias` b is
/// `[outputSize]`, output `y` is `[batch, outputSize]`.
///
/// By default the weights are He-normal (N(0, 2 / inputSize), suited to ReLU networks) and the
/// biases zero.
///
/// ```swift
/// let layer = Linear(2, 100)
/// let y = layer.forward(Tensor(shape: [20, 2]))   // [20, 100]
/// ```
public final class Linear: Function {
    /// The number of input features: the width of `[batch, inputSize]` input.
    public let inputSize: Int
    /// The number of output features: the width of `[batch, outputSize]` output.
    public let outputSize: Int
    /// `[inputSize, outputSize]`.
    public let weight: Tensor
    /// `[outputSize]`.
    public let bias: Tensor
    /// How `initializeParameters(using:)` draws `weight` (default He-normal).
    public let weightInitializer: Initializer
    /// How `initializeParameters(using:)` draws `bias` (default zeros).
    public let biasInitializer: Initializer

    @exclusivity(unchecked) private var input: Tensor?
    @exclusivity(unchecked) private var output: Tensor?
    @exclusivity(unchecked) private var inputGradient: Tensor?

    /// A layer from `inputSize` features to `outputSize`, its parameters drawn from the
    /// initializers with `seed` (a random seed when nil; `Model.initializeParameters(seed:)`
    /// redraws all layers of a model reproducibly).
    public init(_ inputSize: Int, _ outputSize: Int,
                weightInitializer: Initializer = .heNormal,
                biasInitializer: Initializer = .zeros, seed: UInt64? = nil) {
        require(inputSize >= 1 && outputSize >= 1,
                     "Linear: sizes must be at least 1, got \(inputSize) → \(outputSize)")
        self.inputSize = inputSize
        self.outputSize = outputSize
        self.weightInitializer = weightInitializer
        self.biasInitializer = biasInitializer
        weight = Tensor(parameterShape: [inputSize, outputSize],
                        named: "\(Linear.description(inputSize, outputSize)): the weight")
        bias = Tensor(parameterShape: [outputSize],
                      named: "\(Linear.description(inputSize, outputSize)): the bias")
        initializeParameters(seed: seed)
    }

    public var description: String { Linear.description(inputSize, outputSize) }

    /// The description of a layer of these sizes, for messages before the layer is made.
    private static func description(_ inputSize: Int, _ outputSize: Int) -> String {
        "Linear(\(inputSize) → \(outputSize))"
    }

    public var parameters: [Tensor] { [weight, bias] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [(name: "weight", tensor: weight), (name: "bias", tensor: bias)]
    }

    /// The weight: `[outputSize, inputSize]` in files, as PyTorch's.
    public var namesTransposedInFiles: Set<String> { ["weight"] }

    public func initializeParameters(using generator: inout SeededGenerator) {
        weightInitializer.fill(weight, fanIn: inputSize, fanOut: outputSize, using: &generator)
        biasInitializer.fill(bias, fanIn: inputSize, fanOut: outputSize, using: &generator)
    }

    /// y = x · W + b as a recorded operation (the kernels of `forward` and `backward`), its
    /// input saved by the call's node.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        requireMatrix(input, width: inputSize, for: self)
        let batch = input.shape[0]
        let output = Tensor(uninitializedShape: [batch, outputSize])
        ck_sgemm_bias_relu(0, 0, Int64(batch), Int64(outputSize), Int64(inputSize), 1,
                           input.value, Int64(inputSize), weight.value, Int64(outputSize), 0,
                           output.value, Int64(outputSize), bias.value, 0)
        if recordsGradient([input, weight, bias]) {
            output.attach(LinearNode(self, input: input, output: output))
        }
        return output
    }

    /// y = x · W + b.
    public func forward(_ input: Tensor) -> Tensor { forward(input, then: nil) }

    /// y = x · W + b, then max(y, 0) when `relu` is given: one pass over y (the bias and the
    /// activation are applied to each tile of the product while it is in cache), written into
    /// `relu`'s output buffer so that `relu.backward` works as if `relu.forward` had run.
    /// `Model` runs a `Linear` followed by a `ReLU` this way.
    func forward(_ input: Tensor, then relu: ReLU?) -> Tensor {
        requireMatrix(input, width: inputSize, for: self)
        let batch = input.shape[0]
        let output: Tensor
        if let relu {
            output = relu.outputBuffer(rows: batch, columns: outputSize)
        } else {
            output = Tensor.reusing(self.output, rows: batch, columns: outputSize)
            keep(output, in: &self.output)
        }
        ck_sgemm_bias_relu(0, 0, Int64(batch), Int64(outputSize), Int64(inputSize), 1,
                           input.value, Int64(inputSize), weight.value, Int64(outputSize), 0,
                           output.value, Int64(outputSize), bias.value, relu == nil ? 0 : 1)
        keep(input, in: &self.input)
        return output
    }

    /// dW += xᵀ · dy, db += Σ over the batch of dy, and returns dx = dy · Wᵀ.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, through: nil)
    }

    /// `backward`, and when `relu` (the ReLU right before this layer) is given, dx passed back
    /// through it in the same pass: dx where relu's last output is above 0, else 0, written
    /// into relu's input-gradient buffer as if `relu.backward(dx)` had run. `Model` runs a
    /// `ReLU` followed by a `Linear` this way. With `optimizer`, the weight may take its step
    /// in dW's product (`accumulateGradients`): dx is computed first, from the weight before it.
    func backward(_ outputGradient: Tensor, through relu: ReLU?,
                  updating optimizer: (any StepsInProduct)? = nil) -> Tensor
    {
        let outputGradient = outputGradient.separated(fromGradientsOf: weight, bias)
        let input = lastInput(checking: outputGradient)
        let batch = input.shape[0]
        // dx (batch x inputSize) = dy (batch x outputSize) · Wᵀ (outputSize x inputSize).
        let (m, n, k) = (Int64(batch), Int64(inputSize), Int64(outputSize))
        let inputGradient: Tensor
        if let relu {
            let (reluOutput, reluInputGradient) = relu.fusedBackwardBuffers(rows: batch,
                                                                            columns: inputSize)
            ck_sgemm_relu_backward(0, 1, m, n, k, 1, outputGradient.value, k, weight.value, k, 0,
                                   reluInputGradient.value, n, reluOutput.value, n)
            inputGradient = reluInputGradient
        } else {
            inputGradient = Tensor.reusing(self.inputGradient, rows: batch, columns: inputSize)
            ck_sgemm(0, 1, m, n, k, 1, outputGradient.value, k, weight.value, k, 0,
                     inputGradient.value, n)
            keep(inputGradient, in: &self.inputGradient)
        }
        accumulateGradients(input, outputGradient, updating: optimizer)
        return inputGradient
    }

    /// dW += xᵀ · dy and db += Σ over the batch of dy, without dx.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        accumulateParameterGradients(outputGradient, updating: nil)
    }

    /// dW += xᵀ · dy and db += Σ dy, the weight taking its step in dW's product when
    /// `optimizer` allows it (`accumulateGradients`).
    func accumulateParameterGradients(_ outputGradient: Tensor,
                                      updating optimizer: (any StepsInProduct)?) {
        let outputGradient = outputGradient.separated(fromGradientsOf: weight, bias)
        accumulateGradients(lastInput(checking: outputGradient), outputGradient,
                            updating: optimizer)
    }

    /// Whether the weight's gradient product for a batch of `batch` samples takes the
    /// optimizer's step (`ck_sgemm_takes_step`).
    func weightStepsInProduct(batch: Int) -> Bool {
        ck_sgemm_takes_step(1, 0, Int64(inputSize), Int64(outputSize), Int64(batch)) == 1
    }

    /// The last forward's input, once dy is checked against that forward's output.
    private func lastInput(checking outputGradient: Tensor) -> Tensor {
        guard let input else { fatalError("\(self): backward called before forward") }
        let batch = input.shape[0]
        requireMatrix(outputGradient, width: outputSize, for: self, role: "output gradient")
        requireOutputGradient(outputGradient.shape[0] == batch, shape: outputGradient.shape,
                              lastOutputShape: [batch, outputSize], for: self)
        return input
    }

    /// Accumulates dW and db from `input` (the last forward's) and dy. With `optimizer`, when
    /// dW is this step's first and the weight has no gradient hooks, the product may take the
    /// weight's step itself (`StepsInProduct`, `ProductStep.run`): the weight is then updated
    /// and its gradient buffer left unspecified.
    private func accumulateGradients(_ input: Tensor, _ outputGradient: Tensor,
                                     updating optimizer: (any StepsInProduct)?) {
        let dy = outputGradient.value
        // dW (inputSize x outputSize) += xᵀ (inputSize x batch) · dy (batch x outputSize);
        // right after zeroGrad, dW = that product (beta 0: the zeros are never written).
        let (m, n, k) = (Int64(inputSize), Int64(outputSize), Int64(input.shape[0]))
        let dW = weight.gradientForAccumulation()
        // The kernel's own test first: a small product, like the spiral's, does not take the
        // step, and looking for the weight's optimizer buffers would cost more than it.
        var computed = false
        if let optimizer, !dW.accumulate, weightStepsInProduct(batch: Int(k)),
           weight.gradientHooks.isEmpty {
            computed = optimizer.stepInProduct(of: weight) { step in
                step.run(transA: 1, transB: 0, m: m, n: n, k: k, a: input.value, lda: m, b: dy,
                         ldb: n, grad: dW.buffer, param: weight.value)
            }
        }
        if !computed {
            ck_sgemm(1, 0, m, n, k, 1, input.value, m, dy, n, dW.beta, dW.buffer, n)
        }
        let db = bias.gradientForAccumulation()
        ck_bias_grad(k, n, dy, n, db.accumulateFlag, db.buffer)
    }
}

/// The backward pass of one call of a `Linear`: dx = dy · Wᵀ, dW (+)= xᵀ · dy, db (+)= Σ dy.
final class LinearNode: GradientNode {
    private let layer: Linear

    init(_ layer: Linear, input: Tensor, output: Tensor) {
        self.layer = layer
        super.init(.call(of: layer), inputs: [input, layer.weight, layer.bias],
                   saving: [input, layer.weight], outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        let (batch, n, k) = (Int64(outputShape[0]), Int64(layer.inputSize), Int64(layer.outputSize))
        let dy = outputGradient.value
        if let dx = gradientTarget(forInput: 0) {
            // dx (batch x inputSize) = dy (batch x outputSize) · Wᵀ (outputSize x inputSize).
            ck_sgemm(0, 1, batch, n, k, 1, dy, k, savedValue(1), k, dx.beta, dx.buffer, n)
        }
        if let dW = gradientTarget(forInput: 1) {
            // dW (inputSize x outputSize) (+)= xᵀ (inputSize x batch) · dy (batch x outputSize).
            ck_sgemm(1, 0, n, k, batch, 1, savedValue(0), n, dy, k, dW.beta, dW.buffer, k)
        }
        if let db = gradientTarget(forInput: 2) {
            ck_bias_grad(batch, k, dy, k, db.accumulateFlag, db.buffer)
        }
    }
}
