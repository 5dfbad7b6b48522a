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
/// Implementation: im2col + GEMM. Each image is unfolded (`ck_im2col`) into a columns matrix
/// `[inputChannels·k·k, outH·outW]`, so the convolution is one `ck_sgemm` per image,
/// `Y_b = W · cols_b`, through the tuned, threaded GEMM rather than a hand-written direct
/// loop nest for every shape. Backward reuses those columns: `dW += dY_b · cols_bᵀ`, and
/// `dX_b = col2im(Wᵀ · dY_b)`. The price is memory: the columns of the whole batch are kept
/// from forward to backward (`batch·inputChannels·k²·outH·outW` floats, reused between steps).
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
    /// The im2col columns of every image of the last input, `[batch, rows, pixels]`.
    private var columns: Tensor?
    /// One image's column gradients, `[rows, pixels]`.
    private var columnGradient: Tensor?
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
        weight = Tensor(shape: [outputChannels, inputChannels, kernelSize, kernelSize])
        bias = Tensor(shape: [outputChannels])
        weight.requiresGradient = true
        bias.requiresGradient = true
        var generator = SeededGenerator(seed: seed ?? UInt64.random(in: .min ... .max))
        initializeParameters(using: &generator)
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
        convolve(input, columns: columns, into: output)
        if recordsGradient([input, weight, bias]) {
            output.attach(Conv2DNode(self, input: input, columns: columns, output: output))
        }
        return output
    }

    /// Y_b = W · im2col(X_b) + b for each image b.
    public func forward(_ input: Tensor) -> Tensor {
        let (outputShape, columnsShape) = shapes(forInputShape: input.shape)
        let columns = Tensor.reusing(columns, shape: columnsShape)
        let output = Tensor.reusing(output, shape: outputShape)
        convolve(input, columns: columns, into: output)
        inputShape = input.shape
        self.columns = columns
        self.output = output
        return output
    }

    /// The output's shape `[batch, outC, outH, outW]` and the columns' `[batch, rows, pixels]`
    /// for an input of `shape`, after checking it.
    private func shapes(forInputShape shape: [Int]) -> (output: [Int], columns: [Int]) {
        require(shape.count == 4 && shape[1] == inputChannels,
                "\(self): input of shape \(shape) does not fit; expected [batch, \(inputChannels), height, width]")
        let out = outputSize(height: shape[2], width: shape[3])
        require(out.height >= 1 && out.width >= 1,
                "\(self): input of shape \(shape) is smaller than the kernel; expected height and width + 2·\(padding) of at least \(kernelSize)")
        return ([shape[0], outputChannels, out.height, out.width],
                [shape[0], columnRows, out.height * out.width])
    }

    /// Fills `columns` with im2col of each image of `input` and `output` with W · cols_b + b.
    private func convolve(_ input: Tensor, columns: Tensor, into output: Tensor) {
        let (batch, height, width) = (input.shape[0], input.shape[2], input.shape[3])
        let (rows, pixels) = (columnRows, columns.shape[2])
        let imageSize = inputChannels * height * width
        for b in 0..<batch {
            let cols = columns.value + b * rows * pixels
            ck_im2col(Int64(inputChannels), Int64(height), Int64(width), Int64(kernelSize),
                      Int64(kernelSize), Int64(stride), Int64(stride), Int64(padding),
                      Int64(padding), input.value + b * imageSize, cols)
            // Y_b (outC x pixels) = W (outC x rows) · cols_b (rows x pixels).
            ck_sgemm(0, 0, Int64(outputChannels), Int64(pixels), Int64(rows), 1,
                     weight.value, Int64(rows), cols, Int64(pixels), 0,
                     output.value + b * outputChannels * pixels, Int64(pixels))
        }
        ck_channel_bias_add(Int64(batch), Int64(outputChannels), Int64(pixels), output.value,
                            bias.value)
    }

    /// dW += Σ_b dY_b · cols_bᵀ, db += Σ dY over the batch and pixels, and returns
    /// dX_b = col2im(Wᵀ · dY_b).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        let output = accumulateGradients(outputGradient)
        let pixels = output.shape[2] * output.shape[3]
        let columnGradient = Tensor.reusing(columnGradient, rows: columnRows, columns: pixels)
        let inputGradient = Tensor.reusing(inputGradient, shape: inputShape)
        writeInputGradient(outputGradient, weight: weight.value, inputShape: inputShape,
                           columnGradient: columnGradient.value, into: inputGradient.value)
        self.columnGradient = columnGradient
        self.inputGradient = inputGradient
        return inputGradient
    }

    /// dX_b = col2im(Wᵀ · dY_b) for each image b of an input of `inputShape` into
    /// `inputGradient` (overwritten), through `columnGradient` (`rows · pixels` floats).
    func writeInputGradient(_ outputGradient: Tensor, weight: UnsafePointer<Float>,
                            inputShape: [Int], columnGradient: UnsafeMutablePointer<Float>,
                            into inputGradient: UnsafeMutablePointer<Float>) {
        let (batch, height, width) = (inputShape[0], inputShape[2], inputShape[3])
        let (rows, pixels) = (columnRows, outputGradient.count / (batch * outputChannels))
        let imageSize = inputChannels * height * width
        for b in 0..<batch {
            // dcols (rows x pixels) = Wᵀ (rows x outC) · dY_b (outC x pixels).
            ck_sgemm(1, 0, Int64(rows), Int64(pixels), Int64(outputChannels), 1,
                     weight, Int64(rows),
                     outputGradient.value + b * outputChannels * pixels, Int64(pixels), 0,
                     columnGradient, Int64(pixels))
            ck_col2im(Int64(inputChannels), Int64(height), Int64(width), Int64(kernelSize),
                      Int64(kernelSize), Int64(stride), Int64(stride), Int64(padding),
                      Int64(padding), columnGradient, inputGradient + b * imageSize)
        }
    }

    /// dW and db without dX.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        _ = accumulateGradients(outputGradient)
    }

    /// Checks dY against the last output, accumulates dW and db; returns that output.
    private func accumulateGradients(_ outputGradient: Tensor) -> Tensor {
        let output = requireLastOutput(output, matching: outputGradient, for: self)
        guard let columns else { fatalError("\(self): backward called before forward") }
        let dW = weight.gradientForAccumulation()
        accumulateWeightGradient(outputGradient, columns: columns, into: dW.buffer,
                                 accumulate: dW.accumulate)
        ck_channel_bias_grad(Int64(output.shape[0]), Int64(outputChannels),
                             Int64(output.shape[2] * output.shape[3]), outputGradient.value,
                             bias.gradientPointer)
        return output
    }

    /// dW (outC x rows) (+)= Σ_b dY_b (outC x pixels) · cols_bᵀ (pixels x rows): the first
    /// image overwrites dW when `accumulate` is false (beta 0), the others add.
    func accumulateWeightGradient(_ outputGradient: Tensor, columns: Tensor,
                                  into dW: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let (batch, rows, pixels) = (columns.shape[0], columnRows, columns.shape[2])
        if batch == 0 && !accumulate { dW.update(repeating: 0, count: outputChannels * rows) }
        for b in 0..<batch {
            ck_sgemm(0, 1, Int64(outputChannels), Int64(rows), Int64(pixels), 1,
                     outputGradient.value + b * outputChannels * pixels, Int64(pixels),
                     columns.value + b * rows * pixels, Int64(pixels),
                     accumulate || b > 0 ? 1 : 0, dW, Int64(rows))
        }
    }
}

/// The backward pass of one call of a `Conv2D`, from the columns of its input, which the node
/// owns: dW (+)= Σ_b dY_b · cols_bᵀ, db (+)= Σ dY, dX_b = col2im(Wᵀ · dY_b).
final class Conv2DNode: GradientNode {
    private let layer: Conv2D
    /// im2col of the call's input, `[batch, rows, pixels]`.
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
        if let dW = gradientTarget(forInput: 1) {
            layer.accumulateWeightGradient(outputGradient, columns: columns, into: dW.buffer,
                                           accumulate: dW.accumulate)
        }
        if let db = gradientTarget(forInput: 2) {
            // ck_channel_bias_grad adds: zeros first when the gradient is overwritten.
            if !db.accumulate { db.buffer.update(repeating: 0, count: db.count) }
            ck_channel_bias_grad(Int64(outputShape[0]), Int64(outputShape[1]),
                                 Int64(outputShape[2] * outputShape[3]), outputGradient.value,
                                 db.buffer)
        }
        if let dx = gradientTarget(forInput: 0) {
            let columnGradient = TensorStorage(count: columns.count / inputShape[0], zeroed: false)
            let weight = savedValue(0)
            dx.overwriteOrAdd {
                layer.writeInputGradient(outputGradient, weight: weight, inputShape: inputShape,
                                         columnGradient: columnGradient.base, into: $0)
            }
        }
    }
}
