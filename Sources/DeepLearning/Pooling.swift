import CKernels

/// The arguments of the pooling kernels for one input: planes (batch · channels), the
/// input's height and width, the window's size, stride and padding, whether average pooling
/// counts the padding in a window's size (1) or not (0), and the output's height and width.
struct PoolingGeometry {
    let planes, height, width, kernel, stride, padding: Int64
    let countsPadding: Int32
    let outHeight, outWidth: Int64

    /// `[batch, channels, outHeight, outWidth]` for an input of `inputShape`.
    func outputShape(forInputShape inputShape: [Int]) -> [Int] {
        [inputShape[0], inputShape[1], Int(outHeight), Int(outWidth)]
    }
}

/// The shared machinery of `MaxPool2D` and `AvgPool2D`: square windows slid over each plane
/// of an NCHW input `[batch, channels, height, width]` padded by `padding` on each side,
/// giving `[batch, channels, outH, outW]`, and the layer's buffers.
///
/// `outH = (height + 2·padding − kernelSize) / stride + 1`, rounded down: partial windows at
/// the bottom and right edges are dropped (PyTorch's default, `ceil_mode=False`). With
/// `ceilMode: true` the division rounds up and those partial windows are kept, clipped to the
/// input (unless one would start in the padding after it), as PyTorch's `ceil_mode=True`: an
/// input smaller than the window then gives one window when `kernelSize − 2·padding − height
/// < stride` (likewise the width). The padding is at most half the kernel size, PyTorch's
/// limit, so that every window holds an element of the input.
final class PoolingWindows {
    let kernelSize: Int
    let stride: Int
    let padding: Int
    let ceilMode: Bool
    /// Whether average pooling divides by the size of a window clipped to the padded input
    /// (true) or by the number of its elements inside the input (false).
    let countIncludesPadding: Bool
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    init(layer name: String, kernelSize: Int, stride: Int?, padding: Int, ceilMode: Bool,
         countIncludesPadding: Bool = true) {
        let stride = stride ?? kernelSize
        require(kernelSize >= 1 && stride >= 1,
                "\(name): kernel size and stride must be at least 1, got kernel \(kernelSize), stride \(stride)")
        require(padding >= 0 && padding <= kernelSize / 2,
                "\(name): padding must be at least 0 and at most half the kernel size, got padding \(padding), kernel \(kernelSize)")
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludesPadding = countIncludesPadding
    }

    /// "`name`(kernel 3, stride 2, padding 1, ceil mode, padding not counted)": the padding
    /// when there is some, ceil mode when on, and that the padding is not counted when that
    /// changes results (only average pooling sets `countIncludesPadding` false).
    func description(of name: String) -> String {
        let notCounted = padding > 0 && !countIncludesPadding
        return "\(name)(kernel \(kernelSize), stride \(stride)"
            + (padding > 0 ? ", padding \(padding)" : "") + (ceilMode ? ", ceil mode" : "")
            + (notCounted ? ", padding not counted" : "") + ")"
    }

    /// The kernels' arguments for the last input.
    private(set) var geometry = PoolingGeometry(planes: 0, height: 0, width: 0, kernel: 0,
                                                stride: 0, padding: 0, countsPadding: 1,
                                                outHeight: 0, outWidth: 0)

    /// The kernels' arguments for an input of `shape`, after checking it for `layer`.
    func checkedGeometry(forInputShape shape: [Int], of layer: some Layer) -> PoolingGeometry {
        require(shape.count == 4,
                "\(layer): input of shape \(shape) does not fit; expected [batch, channels, height, width]")
        let (k, s, p) = (Int64(kernelSize), Int64(stride), Int64(padding))
        let ceil = Int32(ceilMode ? 1 : 0)
        let outHeight = ck_pool2d_output_size(Int64(shape[2]), k, s, p, ceil)
        let outWidth = ck_pool2d_output_size(Int64(shape[3]), k, s, p, ceil)
        require(outHeight >= 1 && outWidth >= 1,
                "\(layer): input of shape \(shape)\(padding > 0 ? " padded by \(padding)" : "") is too small for a \(kernelSize)x\(kernelSize) window")
        return PoolingGeometry(planes: Int64(shape[0] * shape[1]), height: Int64(shape[2]),
                               width: Int64(shape[3]), kernel: k, stride: s, padding: p,
                               countsPadding: countIncludesPadding ? 1 : 0,
                               outHeight: outHeight, outWidth: outWidth)
    }

    /// Checks `input` for `layer`, records its shape, and returns the output buffer to fill.
    func prepareOutput(for input: Tensor, of layer: some Function) -> Tensor {
        let shape = input.shape
        geometry = checkedGeometry(forInputShape: shape, of: layer)
        inputShape = shape
        let output = Tensor.reusing(output, shape: geometry.outputShape(forInputShape: shape))
        self.output = output
        return output
    }

    /// Checks dY against the last output of `layer`; returns the input gradient buffer to fill.
    func prepareInputGradient(for outputGradient: Tensor, of layer: some Function) -> Tensor {
        _ = requireLastOutput(output, matching: outputGradient, for: layer)
        let inputGradient = Tensor.reusing(inputGradient, shape: inputShape)
        self.inputGradient = inputGradient
        return inputGradient
    }
}

/// Max pooling: each output is the maximum of its window (the padding counts as −∞, as in
/// PyTorch's `MaxPool2d`); backward sends each output's gradient to the position of that
/// maximum (the first one in row-major order). A NaN is a window's maximum: the first NaN,
/// where PyTorch's `max_pool2d` takes the last.
///
/// ```swift
/// let pool = MaxPool2D(kernelSize: 2)
/// pool.forward(Tensor(shape: [8, 16, 28, 28])).shape   // [8, 16, 14, 14]
/// MaxPool2D(kernelSize: 2, ceilMode: true).forward(Tensor(shape: [1, 1, 5, 5])).shape
/// // [1, 1, 3, 3]
/// // A ResNet's stem: PyTorch's nn.MaxPool2d(3, stride=2, padding=1).
/// MaxPool2D(kernelSize: 3, stride: 2, padding: 1).forward(Tensor(shape: [1, 64, 112, 112]))
///     .shape   // [1, 64, 56, 56]
/// ```
public final class MaxPool2D: Function {
    private let windows: PoolingWindows
    /// The index within its plane of each output's maximum, `[batch, channels, outH, outW]`
    /// (`positions(count:)`), kept while the outputs fit.
    private var argmax: TensorStorage?

    /// Windows of `kernelSize` x `kernelSize` moved by `stride` (default: `kernelSize`) over
    /// the input padded by `padding` (at most `kernelSize / 2`) on each side.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        windows = PoolingWindows(layer: "MaxPool2D", kernelSize: kernelSize, stride: stride,
                                 padding: padding, ceilMode: ceilMode)
    }

    /// The height and width of each (square) window, in pixels.
    public var kernelSize: Int { windows.kernelSize }
    /// The step between windows, in pixels, in both directions (default: `kernelSize`).
    public var stride: Int { windows.stride }
    /// The pixels added on each side of the input, which no window takes as its maximum
    /// (PyTorch's `padding`; default 0).
    public var padding: Int { windows.padding }
    /// Whether the output size rounds up, so that a partial window at the right and bottom
    /// edges gives an output too (PyTorch's `ceil_mode`; default false).
    public var ceilMode: Bool { windows.ceilMode }
    public var description: String { windows.description(of: "MaxPool2D") }

    /// Max pooling as a recorded operation (the same kernels); the call's node keeps the
    /// positions of the maxima.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let g = windows.checkedGeometry(forInputShape: input.shape, of: self)
        let output = Tensor(uninitializedShape: g.outputShape(forInputShape: input.shape))
        let argmax = positions(count: output.count)
        argmax.base.withMemoryRebound(to: Int64.self, capacity: output.count) {
            ck_max_pool2d_forward(g.planes, g.height, g.width, g.kernel, g.kernel, g.stride,
                                  g.stride, g.padding, g.padding, g.outHeight, g.outWidth,
                                  input.value, output.value, $0)
        }
        if recordsGradient(input) {
            output.attach(PoolingNode(self, input: input, output: output, geometry: g,
                                      argmax: argmax))
        }
        return output
    }

    public func forward(_ input: Tensor) -> Tensor {
        let output = windows.prepareOutput(for: input, of: self)
        if argmax == nil || argmax!.count < 2 * output.count {
            argmax = nil // back to the pool before a larger one is taken
            argmax = positions(count: output.count)
        }
        let g = windows.geometry
        argmax!.base.withMemoryRebound(to: Int64.self, capacity: output.count) {
            ck_max_pool2d_forward(g.planes, g.height, g.width, g.kernel, g.kernel, g.stride,
                                  g.stride, g.padding, g.padding, g.outHeight, g.outWidth,
                                  input.value, output.value, $0)
        }
        return output
    }

    /// A buffer for the positions of `count` maxima: Int64s in a pooled buffer of twice as
    /// many floats.
    private func positions(count: Int) -> TensorStorage {
        TensorStorage.make(count: 2 * count, zeroed: false,
                           for: "\(self): the positions of the maxima")
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let inputGradient = windows.prepareInputGradient(for: outputGradient, of: self)
        let g = windows.geometry
        argmax!.base.withMemoryRebound(to: Int64.self, capacity: outputGradient.count) {
            ck_max_pool2d_backward(g.planes, g.height, g.width, g.outHeight, g.outWidth, $0,
                                   outputGradient.value, inputGradient.value)
        }
        return inputGradient
    }
}

/// Average pooling: each output is the mean of its window, as PyTorch's `AvgPool2d`: the
/// padding counts as zeros, and the sum is divided by the size of the window clipped to the
/// padded input (`countIncludesPadding: true`, PyTorch's `count_include_pad=True`, the
/// default) or by the number of its elements inside the input (`false`); a partial window in
/// ceil mode is clipped either way. Backward spreads each output's gradient over its window's
/// elements inside the input, divided by the same size.
///
/// ```swift
/// let pool = AvgPool2D(kernelSize: 2)
/// pool.forward(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])).values   // [2.5]
/// let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
/// AvgPool2D(kernelSize: 3, padding: 1).forward(x).values   // [10 / 9]
/// AvgPool2D(kernelSize: 3, padding: 1, countIncludesPadding: false).forward(x).values
/// // [2.5]
/// ```
public final class AvgPool2D: Function {
    private let windows: PoolingWindows

    /// Windows of `kernelSize` x `kernelSize` moved by `stride` (default: `kernelSize`) over
    /// the input padded by `padding` (at most `kernelSize / 2`) on each side; the padding
    /// counts in a window's size when `countIncludesPadding`.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                countIncludesPadding: Bool = true) {
        windows = PoolingWindows(layer: "AvgPool2D", kernelSize: kernelSize, stride: stride,
                                 padding: padding, ceilMode: ceilMode,
                                 countIncludesPadding: countIncludesPadding)
    }

    /// The height and width of each (square) window, in pixels.
    public var kernelSize: Int { windows.kernelSize }
    /// The step between windows, in pixels, in both directions (default: `kernelSize`).
    public var stride: Int { windows.stride }
    /// The pixels of zeros added on each side of the input (PyTorch's `padding`; default 0).
    public var padding: Int { windows.padding }
    /// Whether the output size rounds up, so that a partial window at the right and bottom
    /// edges gives an output too (PyTorch's `ceil_mode`; default false).
    public var ceilMode: Bool { windows.ceilMode }
    /// Whether a window's mean divides by its size including the padding (true, the default)
    /// or by the number of its elements inside the input (PyTorch's `count_include_pad`).
    public var countIncludesPadding: Bool { windows.countIncludesPadding }
    public var description: String { windows.description(of: "AvgPool2D") }

    /// Average pooling as a recorded operation (the same kernels).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let g = windows.checkedGeometry(forInputShape: input.shape, of: self)
        let output = Tensor(uninitializedShape: g.outputShape(forInputShape: input.shape))
        ck_avg_pool2d_forward(g.planes, g.height, g.width, g.kernel, g.kernel, g.stride,
                              g.stride, g.padding, g.padding, g.countsPadding, g.outHeight,
                              g.outWidth, input.value, output.value)
        if recordsGradient(input) {
            output.attach(PoolingNode(self, input: input, output: output, geometry: g))
        }
        return output
    }

    public func forward(_ input: Tensor) -> Tensor {
        let output = windows.prepareOutput(for: input, of: self)
        run(ck_avg_pool2d_forward, from: input, into: output)
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let inputGradient = windows.prepareInputGradient(for: outputGradient, of: self)
        run(ck_avg_pool2d_backward, from: outputGradient, into: inputGradient)
        return inputGradient
    }

    /// Calls ck_avg_pool2d_forward or ck_avg_pool2d_backward (same signature) on the last
    /// input's geometry.
    private func run(_ kernel: (Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64,
                                Int32, Int64, Int64, UnsafePointer<Float>?,
                                UnsafeMutablePointer<Float>?) -> Void,
                     from source: Tensor, into destination: Tensor) {
        let g = windows.geometry
        kernel(g.planes, g.height, g.width, g.kernel, g.kernel, g.stride, g.stride, g.padding,
               g.padding, g.countsPadding, g.outHeight, g.outWidth, source.value,
               destination.value)
    }
}

/// The backward pass of one call of a `MaxPool2D` (each output's gradient to its window's
/// maximum, whose positions the node owns) or an `AvgPool2D` (each output's gradient spread
/// evenly over its window).
final class PoolingNode: GradientNode {
    private let geometry: PoolingGeometry
    /// Max pooling's `[batch, channels, outH, outW]` Int64 indices within each plane, from the
    /// forward pass; nil for average pooling.
    private let argmax: TensorStorage?

    init(_ layer: some Layer, input: Tensor, output: Tensor, geometry: PoolingGeometry,
         argmax: TensorStorage? = nil) {
        self.geometry = geometry
        self.argmax = argmax
        super.init(.call(of: layer), inputs: [input], outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        let g = geometry
        target.overwriteOrAdd { dx in
            guard let argmax else {
                return ck_avg_pool2d_backward(g.planes, g.height, g.width, g.kernel, g.kernel,
                                              g.stride, g.stride, g.padding, g.padding,
                                              g.countsPadding, g.outHeight, g.outWidth,
                                              outputGradient.value, dx)
            }
            argmax.base.withMemoryRebound(to: Int64.self, capacity: argmax.count / 2) {
                ck_max_pool2d_backward(g.planes, g.height, g.width, g.outHeight, g.outWidth, $0,
                                       outputGradient.value, dx)
            }
        }
    }
}
