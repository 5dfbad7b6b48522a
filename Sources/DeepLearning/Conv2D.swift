import CKernels

/// A 2-D convolution (cross-correlation, as in PyTorch's `Conv2d`) over NCHW images, with
/// square kernels, one stride and zero padding on every side.
///
/// Shapes: input `[batch, inputChannels, height, width]`, `weight`
/// `[outputChannels, inputChannels, kernelSize, kernelSize]` (OIHW), `bias`
/// `[outputChannels]`, output `[batch, outputChannels, outH, outW]` with
/// `outH = (height + 2·padding − kernelSize) / stride + 1` (likewise `outW`).
///
/// By default the weights are He-normal with fanIn = inputChannels·kernelSize² (fanOut =
/// outputChannels·kernelSize²) and the biases zero.
///
/// ```swift
/// let conv = Conv2D(inputChannels: 3, outputChannels: 8, kernelSize: 3, padding: 1)
/// conv.forward(Tensor(shape: [16, 3, 32, 32])).shape   // [16, 8, 32, 32]
/// ```
///
/// Implementation: im2col + GEMM over the whole batch. The images are unfolded (`ck_im2col`)
/// into one columns matrix `[inputChannels·k·k, batch·outH·outW]`, so the convolution of the
/// batch is one `ck_sgemm`, `Z = W · cols` (channel-major, `[outputChannels, batch, outH·outW]`,
/// moved to NCHW with the bias by `ck_conv2d_output`): one product large enough for the tuned,
/// threaded GEMM to split between threads, rather than a small one per image or a
/// hand-written direct loop nest for every shape. Backward moves dY channel-major the same way
/// (`dZ`, summing db on the way), then `dW (+)= dZ · colsᵀ` and `dX = col2im(Wᵀ · dZ)`, each one
/// product. The price is memory: the columns of the whole batch are kept from forward to
/// backward (`batch·inputChannels·k²·outH·outW` floats, reused between steps), and backward
/// needs as many again for their gradient.
public final class Conv2D: Function {
    /// The channels of the input, `C` of `[batch, C, height, width]`.
    public let inputChannels: Int
    /// The channels of the output: the number of kernels.
    public let outputChannels: Int
    /// The height and width of each (square) kernel, in pixels.
    public let kernelSize: Int
    /// The step between kernel positions, in pixels, in both directions (default 1).
    public let stride: Int
    /// The zero pixels added on every side of the input (default 0).
    public let padding: Int
    /// `[outputChannels, inputChannels, kernelSize, kernelSize]`.
    public let weight: Tensor
    /// `[outputChannels]`.
    public let bias: Tensor
    /// How `initializeParameters(using:)` draws `weight` (default He-normal).
    public let weightInitializer: Initializer
    /// How `initializeParameters(using:)` draws `bias` (default zeros).
    public let biasInitializer: Initializer

    private var inputShape: [Int] = []
    /// The shape of the last forward pass's output, which dY must have.
    private var outputShape: [Int] = []
    /// im2col of the last input, `[rows, batch, pixels]`.
    private var columns: Tensor?
    /// The gradient of `columns`, same shape.
    private var columnGradient: Tensor?
    /// The channel-major product `[outputChannels, batch, pixels]` in forward, its gradient
    /// in backward.
    private var product: Tensor?
    /// The output of `forward` without a ReLU (with one, the ReLU's buffer is written).
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// A convolution from `inputChannels` to `outputChannels` planes with a square kernel,
    /// its parameters drawn from the initializers with `seed` (a random seed when nil).
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1,
                padding: Int = 0, weightInitializer: Initializer = .heNormal,
                biasInitializer: Initializer = .zeros, seed: UInt64? = nil) {
        require(inputChannels >= 1 && outputChannels >= 1 && kernelSize >= 1 && stride >= 1
                    && padding >= 0,
                "Conv2D: channels, kernel size and stride must be at least 1 and padding at least 0, got \(inputChannels) → \(outputChannels), kernel \(kernelSize), stride \(stride), padding \(padding)")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.weightInitializer = weightInitializer
        self.biasInitializer = biasInitializer
        weight = Tensor(parameterShape: [outputChannels, inputChannels, kernelSize, kernelSize])
        bias = Tensor(parameterShape: [outputChannels])
        initializeParameters(seed: seed)
    }

    public var description: String {
        "Conv2D(\(inputChannels) → \(outputChannels), kernel \(kernelSize), stride \(stride), padding \(padding))"
    }

    public var parameters: [Tensor] { [weight, bias] }

    public var namedParameters: [(name: String, tensor: Tensor)] {
        [(name: "weight", tensor: weight), (name: "bias", tensor: bias)]
    }

    public func initializeParameters(using generator: inout SeededGenerator) {
        let window = kernelSize * kernelSize
        let (fanIn, fanOut) = (inputChannels * window, outputChannels * window)
        weightInitializer.fill(weight, fanIn: fanIn, fanOut: fanOut, using: &generator)
        biasInitializer.fill(bias, fanIn: fanIn, fanOut: fanOut, using: &generator)
    }

    /// The rows of a columns matrix: one per weight of an output channel.
    private var columnRows: Int { inputChannels * kernelSize * kernelSize }

    /// The output height and width for an input of `height` x `width`.
    private func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let (k, s, p) = (Int64(kernelSize), Int64(stride), Int64(padding))
        return (Int(ck_conv2d_output_size(Int64(height), k, s, p)),
                Int(ck_conv2d_output_size(Int64(width), k, s, p)))
    }

    /// The convolution as a recorded operation (the kernels of `forward` and `backward`); the
    /// call's node keeps the columns of its input.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let (outputShape, columnsShape) = shapes(forInputShape: input.shape)
        let columns = Tensor(uninitializedShape: columnsShape)
        let output = Tensor(uninitializedShape: outputShape)
        let product = TensorStorage.make(count: output.count, zeroed: false)
        withExtendedLifetime(product) {
            convolve(input, columns: columns, product: product.base, relu: false, into: output)
        }
        if recordsGradient([input, weight, bias]) {
            output.attach(Conv2DNode(self, input: input, columns: columns, output: output))
        }
        return output
    }

    /// Y = W · im2col(X) + b over the whole batch.
    public func forward(_ input: Tensor) -> Tensor {
        forward(input, then: nil)
    }

    /// `forward`, and when `relu` (the ReLU right after this layer) is given, the ReLU applied
    /// in the same pass, into relu's output buffer as if `relu.forward(Y)` had run: `Model`
    /// runs a `Conv2D` followed by a `ReLU` this way, and `backward(_:through:)` then takes
    /// the ReLU's output gradient.
    func forward(_ input: Tensor, then relu: ReLU?) -> Tensor {
        let (outputShape, columnsShape) = shapes(forInputShape: input.shape)
        let columns = Tensor.reusing(columns, shape: columnsShape)
        let output: Tensor
        if let relu {
            output = relu.outputBuffer(shape: outputShape)
        } else {
            output = Tensor.reusing(self.output, shape: outputShape)
            self.output = output
        }
        let product = Tensor.reusing(product, shape: outputShape)
        convolve(input, columns: columns, product: product.value, relu: relu != nil,
                 into: output)
        self.product = product
        inputShape = input.shape
        self.outputShape = outputShape
        self.columns = columns
        return output
    }

    /// The output's shape `[batch, outC, outH, outW]` and the columns' `[rows, batch, pixels]`
    /// for an input of `shape`, after checking it.
    private func shapes(forInputShape shape: [Int]) -> (output: [Int], columns: [Int]) {
        require(shape.count == 4 && shape[1] == inputChannels,
                "\(self): input of shape \(shape) does not fit; expected [batch, \(inputChannels), height, width]")
        let out = outputSize(height: shape[2], width: shape[3])
        require(out.height >= 1 && out.width >= 1,
                "\(self): input of shape \(shape) is smaller than the kernel; expected height and width + 2·\(padding) of at least \(kernelSize)")
        return ([shape[0], outputChannels, out.height, out.width],
                [columnRows, shape[0], out.height * out.width])
    }

    /// Fills `columns` with im2col of `input`, `product` (as many floats as `output`) with
    /// Z = W · columns, and `output` with Z in NCHW + b, through a ReLU when `relu`.
    private func convolve(_ input: Tensor, columns: Tensor, product: UnsafeMutablePointer<Float>,
                          relu: Bool, into output: Tensor) {
        let (batch, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let (rows, pixels) = (columnRows, columns.shape[2])
        ck_im2col(Int64(batch), Int64(inputChannels), Int64(height), Int64(width),
                  Int64(kernelSize), Int64(kernelSize), Int64(stride), Int64(stride),
                  Int64(padding), Int64(padding), input.value, columns.value)
        // Z (outC x batch·pixels) = W (outC x rows) · columns (rows x batch·pixels).
        ck_sgemm(0, 0, Int64(outputChannels), Int64(batch * pixels), Int64(rows), 1,
                 weight.value, Int64(rows), columns.value, Int64(batch * pixels), 0, product,
                 Int64(batch * pixels))
        ck_conv2d_output(Int64(batch), Int64(outputChannels), Int64(pixels), product,
                         bias.value, relu ? 1 : 0, output.value)
    }

    /// db (+)= Σ dY, dW (+)= dZ · colsᵀ, and returns dX = col2im(Wᵀ · dZ).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, through: nil)
    }

    /// `backward`, and when `relu` (the ReLU that `forward(_:then:)` applied) is given, dY is
    /// the ReLU's output gradient, passed back through it in the same pass: dY where relu's
    /// last output is above 0, else 0, as if `relu.backward(dY)` had run first.
    func backward(_ outputGradient: Tensor, through relu: ReLU?) -> Tensor {
        let reluOutput = relu?.lastOutput(matching: outputGradient)
        let (columns, product) = lastBuffers(checking: outputGradient)
        let columnGradient = Tensor.reusing(self.columnGradient, shape: columns.shape)
        let inputGradient = Tensor.reusing(self.inputGradient, shape: inputShape)
        backpropagate(outputGradient, through: reluOutput, columns: columns,
                      productGradient: product.value, weight: weight.value,
                      weightGradient: weight.gradientForAccumulation(),
                      biasGradient: bias.gradientForAccumulation(),
                      input: (inputShape, columnGradient.value, inputGradient.value))
        self.columnGradient = columnGradient
        self.inputGradient = inputGradient
        return inputGradient
    }

    /// dW and db without dX.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        accumulateParameterGradients(outputGradient, through: nil)
    }

    /// dW and db without dX, dY passed back through `relu` first as in `backward(_:through:)`.
    func accumulateParameterGradients(_ outputGradient: Tensor, through relu: ReLU?) {
        let reluOutput = relu?.lastOutput(matching: outputGradient)
        let (columns, product) = lastBuffers(checking: outputGradient)
        backpropagate(outputGradient, through: reluOutput, columns: columns,
                      productGradient: product.value, weight: weight.value,
                      weightGradient: weight.gradientForAccumulation(),
                      biasGradient: bias.gradientForAccumulation(), input: nil)
    }

    /// The columns of the last input and the product's buffer, after checking dY against
    /// the last output's shape.
    private func lastBuffers(checking outputGradient: Tensor) -> (columns: Tensor, product: Tensor) {
        guard let columns, let product else { fatalError("\(self): backward called before forward") }
        requireOutputGradient(outputGradient.shape == outputShape,
                              shape: outputGradient.shape, lastOutputShape: outputShape,
                              for: self)
        return (columns, product)
    }

    /// The gradients of one call whose input had `columns` (`[rows, batch, pixels]`), from
    /// dY: dZ = dY channel-major into `productGradient` (as many floats as dY; where a ReLU
    /// followed, whose output was `reluOutput`, dY where that output is above 0, else 0),
    /// then each gradient asked for, into its buffer, overwritten or added to as its flag says:
    /// db = Σ dZ over the batch and pixels, dW = dZ · colsᵀ, and dX = col2im(Wᵀ · dZ) into
    /// `input.gradient` (always overwritten) for an input of `input.shape`, through
    /// `input.columnGradient` (as many floats as `columns`).
    func backpropagate(
        _ outputGradient: Tensor, through reluOutput: Tensor? = nil, columns: Tensor,
        productGradient dZ: UnsafeMutablePointer<Float>,
        weight: UnsafePointer<Float>,
        weightGradient: GradientTarget?, biasGradient: GradientTarget?,
        input: (shape: [Int], columnGradient: UnsafeMutablePointer<Float>,
                gradient: UnsafeMutablePointer<Float>)?
    ) {
        let (rows, batch, pixels) = (columnRows, columns.shape[1], columns.shape[2])
        let length = Int64(batch * pixels)
        // ck_conv2d_output_gradient adds into db: zeros first when it is overwritten.
        if let db = biasGradient, !db.accumulate {
            db.buffer.update(repeating: 0, count: outputChannels)
        }
        ck_conv2d_output_gradient(Int64(batch), Int64(outputChannels), Int64(pixels),
                                  outputGradient.value, reluOutput?.value, dZ,
                                  biasGradient?.buffer)
        if let dW = weightGradient {
            // dW (outC x rows) (+)= dZ (outC x batch·pixels) · colsᵀ (batch·pixels x rows).
            ck_sgemm(0, 1, Int64(outputChannels), Int64(rows), length, 1, dZ, length,
                     columns.value, length, dW.beta, dW.buffer, Int64(rows))
        }
        if let input {
            // dcols (rows x batch·pixels) = Wᵀ (rows x outC) · dZ (outC x batch·pixels).
            ck_sgemm(1, 0, Int64(rows), length, Int64(outputChannels), 1, weight, Int64(rows),
                     dZ, length, 0, input.columnGradient, length)
            let (height, width) = (input.shape[2], input.shape[3])
            ck_col2im(Int64(batch), Int64(inputChannels), Int64(height), Int64(width),
                      Int64(kernelSize), Int64(kernelSize), Int64(stride), Int64(stride),
                      Int64(padding), Int64(padding), input.columnGradient, input.gradient)
        }
    }
}

/// The backward pass of one call of a `Conv2D`, from the columns of its input, which the node
/// owns: db (+)= Σ dY, dW (+)= dZ · colsᵀ, dX = col2im(Wᵀ · dZ) (`Conv2D.backpropagate`).
final class Conv2DNode: GradientNode {
    private let layer: Conv2D
    /// im2col of the call's input, `[rows, batch, pixels]`.
    private let columns: Tensor
    private let inputShape: [Int]

    init(_ layer: Conv2D, input: Tensor, columns: Tensor, output: Tensor) {
        self.layer = layer
        self.columns = columns
        inputShape = input.shape
        super.init("\(layer)", inputs: [input, layer.weight, layer.bias],
                   saving: [layer.weight], outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        let weight = savedValue(0)
        let (dW, db) = (gradientTarget(forInput: 1), gradientTarget(forInput: 2))
        let productGradient = TensorStorage.make(count: outputGradient.count, zeroed: false)
        func backpropagate(input: (shape: [Int], columnGradient: UnsafeMutablePointer<Float>,
                                   gradient: UnsafeMutablePointer<Float>)?) {
            layer.backpropagate(outputGradient, columns: columns,
                                productGradient: productGradient.base, weight: weight,
                                weightGradient: dW, biasGradient: db, input: input)
        }
        defer { withExtendedLifetime(productGradient) {} }
        guard let dx = gradientTarget(forInput: 0) else { return backpropagate(input: nil) }
        let columnGradient = TensorStorage.make(count: columns.count, zeroed: false)
        withExtendedLifetime(columnGradient) {
            dx.overwriteOrAdd { backpropagate(input: (inputShape, columnGradient.base, $0)) }
        }
    }
}
