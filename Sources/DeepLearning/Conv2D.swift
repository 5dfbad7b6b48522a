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
/// Implementation: im2col + GEMM. The images are unfolded (`ck_im2col`) into a columns matrix
/// `[inputChannels·k·k, images·outH·outW]`, so that `Z = W · cols` (`ck_sgemm`, channel-major
/// `[outputChannels, batch, outH·outW]`, moved to NCHW with the bias by `ck_conv2d_output`) is
/// one product large enough for the tuned, threaded GEMM to split between threads, rather than
/// a small one per image or a hand-written direct loop nest for every shape. Backward moves dY
/// channel-major the same way (`dZ`, summing db on the way), then `dW (+)= dZ · colsᵀ` and
/// `dX = col2im(Wᵀ · dZ)`. Where the whole batch's columns would not stay in cache
/// (`wholeBatchFloats`), the batch is taken a piece at a time (`imagesPerPiece`,
/// `ck_conv2d_forward` and `ck_conv2d_backward`): each piece unfolded right before its products
/// read it, in forward and again in backward, so the columns never go to memory, the pieces
/// run in parallel, one thread each, and dW summed in `weightGradientParts` partial sums over
/// consecutive pieces, added in order. Kept from forward to backward: the columns (or rows)
/// when the batch is one piece, else the input. A batch with 16 input channels or more whose
/// windows are not flat (a stride above 1, or padding that does not keep the width), where
/// im2col copies a few pixels at a time, is unfolded channels last instead (`ck_im2row`, a
/// row per output pixel, its channels side by side), forward (`Z = W · rowsᵀ`) and backward,
/// and so is a batch of several pieces with 16 input channels or more in backward: then
/// `dW (+)= dZ · rows` and `dX = row2im(dZᵀ · W)` read and write the rows as stored, and dX is
/// added in place to a gradient that accumulates. A batch of several pieces with 3×3 kernels
/// at stride 1 and padding 1 on planes of at least 2×2 pixels takes Y and dX in the Winograd
/// form F(2×2, 3×3) instead (`ck_conv2d_winograd`), and on planes of at least 3×3 pixels dW
/// in F(3×3, 2×2) (`ck_conv2d_winograd_weight_gradient`): 16 products of 16 multiply-adds
/// per 2×2 output tile where im2col's take 36, through the kernels' own scratch, without
/// columns. A piece whose transformed products are not finite (an infinity or NaN in X, W or
/// dY) takes the products still, through the kernels' scratch, whose infinities are the
/// definition's where the Winograd form's sums would give NaN.
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

    /// The last forward pass's input, unfolded again by backward when it takes several pieces.
    private var input: Tensor?
    /// The shape of the last forward pass's output, which dY must have.
    private var outputShape: [Int] = []
    /// The columns of the pieces of the batch in flight, `[slots, rows, images, pixels]`
    /// (none when dW is in the Winograd form).
    private var columns: Tensor?
    /// The gradient of `columns`, same shape.
    private var columnGradient: Tensor?
    /// The channel-major products of the pieces in flight, `[slots, outputChannels, images,
    /// pixels]` (none in the Winograd form).
    private var product: Tensor?
    /// The channel-major gradient of the product, `[outputChannels, batch, pixels]`.
    private var productGradient: Tensor?
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
        func layer() -> String {
            Conv2D.description(inputChannels, outputChannels, kernelSize: kernelSize,
                               stride: stride, padding: padding)
        }
        weight = Tensor(parameterShape: [outputChannels, inputChannels, kernelSize, kernelSize],
                        named: "\(layer()): the weight")
        bias = Tensor(parameterShape: [outputChannels], named: "\(layer()): the bias")
        initializeParameters(seed: seed)
    }

    public var description: String {
        Conv2D.description(inputChannels, outputChannels, kernelSize: kernelSize, stride: stride,
                           padding: padding)
    }

    /// The description of a layer of these settings, for messages before the layer is made.
    private static func description(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int,
                                    stride: Int, padding: Int) -> String {
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

    /// The most floats of columns unfolded at once for the whole batch: 4 MB, which a core's
    /// L2 and its share of L3 hold. Beyond, pieces of at least `pieceFloats`.
    static let wholeBatchFloats = 1024 * 1024
    /// The fewest floats of a piece's columns: 1 MB, a Zen 4 core's L2, so that a piece (at
    /// most twice that) stays in the L2 and L3 of the core that unfolds it, while its products
    /// are a few hundred columns wide, enough for the GEMM on one thread.
    static let pieceFloats = 256 * 1024
    /// The most partial sums of dW over the pieces, a function of the shape alone (never of
    /// the thread count, so neither are dW's bits): enough for the threads of a few cores to
    /// share the pieces, their products summed apart, while the partial sums take at most
    /// `wholeBatchFloats` beyond dW.
    static let weightGradientParts = 8

    /// The images of a piece of the batch: all of them (at least one, even of an empty batch)
    /// up to `wholeBatchFloats` of columns, else the batch cut into as many equal pieces as it
    /// holds `pieceFloats` (the last one may be shorter); a function of the shape alone, never
    /// of the thread count.
    private func imagesPerPiece(batch: Int, pixels: Int) -> Int {
        let floats = batch * columnRows * pixels
        if floats <= Conv2D.wholeBatchFloats { return max(1, batch) }
        let pieces = floats / Conv2D.pieceFloats
        return (batch + pieces - 1) / pieces
    }

    /// Whether a batch of `inputShape` is one piece, whose columns forward leaves for backward.
    func isOnePiece(_ inputShape: [Int]) -> Bool {
        let out = outputSize(height: inputShape[2], width: inputShape[3])
        return imagesPerPiece(batch: inputShape[0], pixels: out.height * out.width) >= inputShape[0]
    }

    /// Whether backward adds dX to a gradient in place for a batch of `inputShape` (it goes by
    /// rows: `ck_conv2d_backward_by_rows`), rather than writing it.
    func addsInputGradient(_ inputShape: [Int]) -> Bool {
        var pieces = pieces(ofInputShape: inputShape)
        return ck_conv2d_backward_by_rows(&pieces) != 0
    }

    /// The pieces of a batch of `inputShape`, with columns buffers of `columnFloats` for as
    /// many pieces as they hold, or when nil, as many as there are pieces and threads to run
    /// them (at least one).
    private func pieces(ofInputShape shape: [Int], columnFloats: Int? = nil) -> ck_conv2d_pieces {
        let (batch, height, width) = (shape[0], shape[2], shape[3])
        let out = outputSize(height: height, width: width)
        let pixels = out.height * out.width
        let images = imagesPerPiece(batch: batch, pixels: pixels)
        let count = (batch + images - 1) / images
        let weights = outputChannels * columnRows
        let parts = min(count, Conv2D.weightGradientParts, 1 + Conv2D.wholeBatchFloats / weights)
        var pieces = ck_conv2d_pieces(
            batch: Int64(batch), channels: Int64(inputChannels), height: Int64(height),
            width: Int64(width), out_channels: Int64(outputChannels), kernel: Int64(kernelSize),
            stride: Int64(stride), pad: Int64(padding), images_per_piece: Int64(images),
            slots: Int64(max(1, min(count, Int(ck_get_num_threads())))),
            weight_parts: Int64(max(1, parts)))
        if let columnFloats, Conv2D.usesColumns(pieces) {
            pieces.slots = Int64(columnFloats / (columnRows * images * pixels))
        }
        return pieces
    }

    /// Whether a batch of `pieces` goes through columns (and their gradients), for dW unless
    /// `ck_conv2d_winograd_weight_gradient` names it, and through products, unless
    /// `ck_conv2d_winograd` does: the Winograd form keeps its tiles in the kernels' scratch.
    private static func usesColumns(_ pieces: ck_conv2d_pieces) -> Bool {
        var pieces = pieces
        return ck_conv2d_winograd_weight_gradient(&pieces) == 0
    }

    private static func usesProducts(_ pieces: ck_conv2d_pieces) -> Bool {
        var pieces = pieces
        return ck_conv2d_winograd(&pieces) == 0
    }

    /// The floats of the column (or row) gradient that dX of a batch of `inputShape` goes
    /// through, its columns being `columnFloats`: as many, or none where dX is in the Winograd
    /// form (`usesProducts`), which keeps its tiles in the kernels' scratch.
    func columnGradientFloats(inputShape: [Int], columnFloats: Int) -> Int {
        Conv2D.usesProducts(pieces(ofInputShape: inputShape)) ? columnFloats : 0
    }

    /// The output height and width for an input of `height` x `width`.
    private func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let (k, s, p) = (Int64(kernelSize), Int64(stride), Int64(padding))
        return (Int(ck_conv2d_output_size(Int64(height), k, s, p)),
                Int(ck_conv2d_output_size(Int64(width), k, s, p)))
    }

    /// The convolution as a recorded operation (the kernels of `forward` and `backward`); the
    /// call's node keeps the columns of its input when the batch is one piece, else saves the
    /// input.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let (outputShape, columnsShape, productShape) = shapes(forInputShape: input.shape)
        let output = Tensor(uninitializedShape: outputShape,
                            for: "\(self): for input of shape \(input.shape), the output")
        let columns = TensorStorage.make(
            count: columnsShape.reduce(1, *), zeroed: false,
            for: "\(self): for input of shape \(input.shape), the unfolded input: shape \(columnsShape)")
        let product = TensorStorage.make(
            count: productShape.reduce(1, *), zeroed: false,
            for: "\(self): for input of shape \(input.shape), the products: shape \(productShape)")
        withExtendedLifetime((columns, product)) {
            convolve(input, columns: columns.base, product: product.base, relu: false,
                     into: output)
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
        let (outputShape, columnsShape, productShape) = shapes(forInputShape: input.shape)
        let columns = Tensor.reusing(columns, shape: columnsShape,
                                     for: "\(self): for input of shape \(input.shape), the unfolded input")
        let output: Tensor
        if let relu {
            output = relu.outputBuffer(shape: outputShape)
        } else {
            output = Tensor.reusing(self.output, shape: outputShape,
                                    for: "\(self): for input of shape \(input.shape), the output")
            self.output = output
        }
        let product = Tensor.reusing(product, shape: productShape,
                                     for: "\(self): for input of shape \(input.shape), the products")
        convolve(input, columns: columns.value, product: product.value, relu: relu != nil,
                 into: output)
        self.product = product
        self.input = input
        self.outputShape = outputShape
        self.columns = columns
        return output
    }

    /// The output's shape `[batch, outC, outH, outW]`, and the shapes of the columns
    /// `[slots, rows, images, pixels]` and of the products `[slots, outC, images, pixels]` of
    /// the pieces in flight (`pieces`) for an input of `shape` (no slots where the Winograd
    /// form takes their place: `usesColumns`, `usesProducts`), after checking it.
    func shapes(forInputShape shape: [Int])
        -> (output: [Int], columns: [Int], product: [Int]) {
        require(shape.count == 4 && shape[1] == inputChannels,
                "\(self): input of shape \(shape) does not fit; expected [batch, \(inputChannels), height, width]")
        // The kernels count the padded rows and columns, size + 2·padding, in int64_t.
        require(padding <= (Int.max - max(shape[2], shape[3])) / 2,
                "\(self): input of shape \(shape) padded by \(padding) on each side has too many rows or columns to address")
        let out = outputSize(height: shape[2], width: shape[3])
        require(out.height >= 1 && out.width >= 1,
                "\(self): input of shape \(shape) is smaller than the kernel; expected height and width + 2·\(padding) of at least \(kernelSize)")
        // The output, and the columns of the whole batch that `imagesPerPiece` counts.
        let output = [shape[0], outputChannels, out.height, out.width]
        _ = Tensor.elementCount(of: output,
                                for: "\(self): for input of shape \(shape), the output")
        _ = Tensor.elementCount(of: [shape[0], columnRows, out.height, out.width],
                                for: "\(self): for input of shape \(shape), the unfolded input")
        let pieces = pieces(ofInputShape: shape)
        let slots = Int(pieces.slots)
        let (images, pixels) = (Int(pieces.images_per_piece), out.height * out.width)
        return (output,
                [Conv2D.usesColumns(pieces) ? slots : 0, columnRows, images, pixels],
                [Conv2D.usesProducts(pieces) ? slots : 0, outputChannels, images, pixels])
    }

    /// `output` = W · im2col(input) + b in NCHW, through a ReLU when `relu`, a piece of the
    /// batch at a time through `columns` and `product` (as many floats as `shapes` gives).
    private func convolve(_ input: Tensor, columns: UnsafeMutablePointer<Float>,
                          product: UnsafeMutablePointer<Float>, relu: Bool,
                          into output: Tensor) {
        var pieces = pieces(ofInputShape: input.shape)
        ck_conv2d_forward(&pieces, input.value, weight.value, bias.value, relu ? 1 : 0, columns,
                          product, output.value)
    }

    /// db (+)= Σ dY, dW (+)= dZ · colsᵀ, and returns dX = col2im(Wᵀ · dZ).
    public func backward(_ outputGradient: Tensor) -> Tensor {
        backward(outputGradient, through: nil)
    }

    /// `backward`, and when `relu` (the ReLU that `forward(_:then:)` applied) is given, dY is
    /// the ReLU's output gradient, passed back through it in the same pass: dY where relu's
    /// last output is above 0, else 0, as if `relu.backward(dY)` had run first.
    func backward(_ outputGradient: Tensor, through relu: ReLU?) -> Tensor {
        let outputGradient = outputGradient.separated(fromGradientsOf: weight, bias)
        let reluOutput = relu?.lastOutput(matching: outputGradient)
        let (input, columns, productGradient) = lastBuffers(checking: outputGradient)
        let columnGradient = Tensor.reusing(
            self.columnGradient,
            shape: [columnGradientFloats(inputShape: input.shape, columnFloats: columns.count)])
        let inputGradient = Tensor.reusing(self.inputGradient, shape: input.shape)
        backpropagate(outputGradient, through: reluOutput,
                      input: isOnePiece(input.shape) ? nil : input.value,
                      inputShape: input.shape, columns: columns.value, columnFloats: columns.count,
                      productGradient: productGradient.value, weight: weight.value,
                      weightGradient: weight.gradientForAccumulation(),
                      biasGradient: bias.gradientForAccumulation(),
                      inputGradient: (columnGradient.value, inputGradient.value, false))
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
        let outputGradient = outputGradient.separated(fromGradientsOf: weight, bias)
        let reluOutput = relu?.lastOutput(matching: outputGradient)
        let (input, columns, productGradient) = lastBuffers(checking: outputGradient)
        backpropagate(outputGradient, through: reluOutput,
                      input: isOnePiece(input.shape) ? nil : input.value,
                      inputShape: input.shape, columns: columns.value, columnFloats: columns.count,
                      productGradient: productGradient.value, weight: weight.value,
                      weightGradient: weight.gradientForAccumulation(),
                      biasGradient: bias.gradientForAccumulation(), inputGradient: nil)
    }

    /// The last input and columns, and a buffer for dZ, after checking dY against the last
    /// output's shape.
    private func lastBuffers(checking outputGradient: Tensor)
        -> (input: Tensor, columns: Tensor, productGradient: Tensor) {
        guard let input, let columns else {
            fatalError("\(self): backward called before forward")
        }
        requireOutputGradient(outputGradient.shape == outputShape,
                              shape: outputGradient.shape, lastOutputShape: outputShape,
                              for: self)
        let productGradient = Tensor.reusing(self.productGradient, shape: outputShape)
        self.productGradient = productGradient
        return (input, columns, productGradient)
    }

    /// The gradients of one call whose input had `inputShape`, from dY: dZ = dY channel-major
    /// into `productGradient` (as many floats as dY; where a ReLU followed, whose output was
    /// `reluOutput`, dY where that output is above 0, else 0), then each gradient asked for,
    /// into its buffer, overwritten or added to as its flag says: db = Σ dZ over the batch and
    /// pixels, dW = dZ · colsᵀ, and dX = col2im(Wᵀ · dZ) into `inputGradient.gradient`
    /// (overwritten, or added to when `inputGradient.accumulate`, which only a batch that
    /// `addsInputGradient` takes), a piece of the batch at a time (`ck_conv2d_backward`) through
    /// `inputGradient.columnGradient` (`columnFloats`, as `columns`). `columns` (`columnFloats`,
    /// as `shapes` gives) holds the whole batch's columns (or rows) when `input` is nil
    /// (`isOnePiece`); else each piece of `input` is unfolded into it for dW.
    func backpropagate(
        _ outputGradient: Tensor, through reluOutput: Tensor? = nil,
        input: UnsafePointer<Float>?, inputShape: [Int], columns: UnsafeMutablePointer<Float>,
        columnFloats: Int, productGradient dZ: UnsafeMutablePointer<Float>,
        weight: UnsafePointer<Float>, weightGradient: GradientTarget?,
        biasGradient: GradientTarget?,
        inputGradient: (columnGradient: UnsafeMutablePointer<Float>,
                        gradient: UnsafeMutablePointer<Float>, accumulate: Bool)?
    ) {
        let batch = inputShape[0]
        let pixels = outputGradient.shape[2] * outputGradient.shape[3]
        // ck_conv2d_output_gradient adds into db: zeros first when it is overwritten.
        if let db = biasGradient, !db.accumulate {
            db.buffer.update(repeating: 0, count: outputChannels)
        }
        ck_conv2d_output_gradient(Int64(batch), Int64(outputChannels), Int64(pixels),
                                  outputGradient.value, reluOutput?.value, dZ,
                                  biasGradient?.buffer)
        guard weightGradient != nil || inputGradient != nil else { return }
        var pieces = pieces(ofInputShape: inputShape, columnFloats: columnFloats)
        let scratch = TensorStorage.make(
            count: Int(ck_conv2d_backward_scratch(&pieces, weightGradient == nil ? 0 : 1,
                                                  inputGradient == nil ? 0 : 1)),
            zeroed: false, for: "\(self): the backward pass's scratch space")
        withExtendedLifetime(scratch) {
            ck_conv2d_backward(&pieces, input, dZ, weight, weightGradient?.buffer,
                               weightGradient?.beta ?? 0, scratch.base, inputGradient?.gradient,
                               inputGradient?.accumulate == true ? 1 : 0, columns,
                               inputGradient?.columnGradient)
        }
    }
}

/// The backward pass of one call of a `Conv2D`, from the columns of its input (a batch of one
/// piece) or the input itself, which the node saves (`Conv2D.isOnePiece`): db (+)= Σ dY,
/// dW (+)= dZ · colsᵀ, dX = col2im(Wᵀ · dZ) (`Conv2D.backpropagate`).
final class Conv2DNode: GradientNode {
    private let layer: Conv2D
    private let inputShape: [Int]
    /// The columns of a piece of the batch, left by forward when it is the whole batch.
    private let columns: TensorStorage
    /// Whether the node saved the input (saved tensor 1), to unfold it piece by piece.
    private let savesInput: Bool

    init(_ layer: Conv2D, input: Tensor, columns: TensorStorage, output: Tensor) {
        self.layer = layer
        self.columns = columns
        inputShape = input.shape
        savesInput = !layer.isOnePiece(input.shape)
        super.init(.call(of: layer), inputs: [input, layer.weight, layer.bias],
                   saving: savesInput ? [layer.weight, input] : [layer.weight],
                   outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        let weight = savedValue(0), input = savesInput ? savedValue(1) : nil
        let (dW, db) = (gradientTarget(forInput: 1), gradientTarget(forInput: 2))
        let productGradient = TensorStorage.make(count: outputGradient.count, zeroed: false,
                                                 for: "\(layer): the products' gradient")
        func backpropagate(inputGradient: (columnGradient: UnsafeMutablePointer<Float>,
                                           gradient: UnsafeMutablePointer<Float>,
                                           accumulate: Bool)?) {
            layer.backpropagate(outputGradient, input: input, inputShape: inputShape,
                                columns: columns.base, columnFloats: columns.count,
                                productGradient: productGradient.base,
                                weight: weight, weightGradient: dW, biasGradient: db,
                                inputGradient: inputGradient)
        }
        defer { withExtendedLifetime(productGradient) {} }
        guard let dx = gradientTarget(forInput: 0) else {
            return backpropagate(inputGradient: nil)
        }
        let columnGradient = TensorStorage.make(
            count: layer.columnGradientFloats(inputShape: inputShape, columnFloats: columns.count),
            zeroed: false, for: "\(layer): the unfolded input's gradient")
        withExtendedLifetime(columnGradient) {
            if dx.accumulate && layer.addsInputGradient(inputShape) {
                backpropagate(inputGradient: (columnGradient.base, dx.buffer, true))
            } else {
                dx.overwriteOrAdd { backpropagate(inputGradient: (columnGradient.base, $0, false)) }
            }
        }
    }
}
