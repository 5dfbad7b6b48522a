import CKernels

// Element-wise functions of one tensor as recorded operations: negation, exp, log, sqrt, pow,
// abs, sin, cos, GELU (`ck_unary_forward`/`ck_unary_backward`), and ReLU, sigmoid and tanh
// (the layers' kernels). Any shape; the result has the input's.

extension Tensor {
    /// Every element negated.
    public static prefix func - (x: Tensor) -> Tensor { unary(.negate, x) }
}

/// e^x, element-wise (within 1 ulp, with C's `expf` special values).
public func exp(_ x: Tensor) -> Tensor { unary(.exp, x) }
/// The natural logarithm, element-wise (within 1 ulp, with C's `logf` special values).
public func log(_ x: Tensor) -> Tensor { unary(.log, x) }
/// The square root, element-wise.
public func sqrt(_ x: Tensor) -> Tensor { unary(.sqrt, x) }
/// x^exponent, element-wise (within 1 ulp, with C's `powf` special values: 1 for exponent 0
/// even at NaN, NaN for a negative x and a fractional exponent); gradient
/// exponent · x^(exponent − 1), 0 everywhere for exponent 0. At x = −∞ and −0 a fractional
/// exponent follows `powf` too: exponent 0.5 gives +∞ and +0, −0.5 gives +0 and +∞, where
/// PyTorch, which takes square roots for them, gives NaN and −0, NaN and −∞.
public func pow(_ x: Tensor, _ exponent: Float) -> Tensor { unary(.pow, x, exponent) }
/// |x|, element-wise; its gradient is sign(x), 0 at 0 (as PyTorch's) and NaN at NaN (where
/// PyTorch's is 0).
public func abs(_ x: Tensor) -> Tensor { unary(.abs, x) }
/// The sine, element-wise (radians; within 0.51 ulp, C's `sinf` beyond |x| = 2²⁴).
public func sin(_ x: Tensor) -> Tensor { unary(.sin, x) }
/// The cosine, element-wise (radians; within 0.51 ulp, C's `cosf` beyond |x| = 2²⁴).
public func cos(_ x: Tensor) -> Tensor { unary(.cos, x) }
/// GELU, the exact form x · Φ(x) with Φ the standard normal CDF (PyTorch's default
/// `approximate='none'`), element-wise, within 0.51 ulp.
public func gelu(_ x: Tensor) -> Tensor { unary(.gelu, x) }

/// max(x, 0), element-wise (the `ReLU` layer's kernels), NaN at NaN; the gradient is 0 where
/// the output is not positive: at 0, and at NaN, where PyTorch's passes the gradient on.
///
/// `x` is taken over (`consuming`): when it is a 2-D product (plus a bias) that nothing else
/// holds, as in `relu(matmul(x, w) + b)`, the ReLU is applied in its buffer and joins its node
/// (`MatrixProductNode.fusingReLU(into:)`).
public func relu(_ x: consuming Tensor) -> Tensor {
    if MatrixProductNode.fusingReLU(into: &x) { return x }
    return activation(.relu, x)
}
/// 1 / (1 + e^−x), element-wise (the `Sigmoid` layer's kernels).
public func sigmoid(_ x: Tensor) -> Tensor { activation(.sigmoid, x) }
/// tanh x, element-wise, within 0.77 ulp (the `Tanh` layer's kernels).
public func tanh(_ x: Tensor) -> Tensor { activation(.tanh, x) }

/// The functions of `ck_unary_forward`, and the name each has in messages.
enum UnaryFunction {
    case negate, exp, log, sqrt, pow, abs, sin, cos, gelu

    var name: String {
        switch self {
        case .negate: "neg"
        case .exp: "exp"
        case .log: "log"
        case .sqrt: "sqrt"
        case .pow: "pow"
        case .abs: "abs"
        case .sin: "sin"
        case .cos: "cos"
        case .gelu: "gelu"
        }
    }

    var kernel: ck_unary_op {
        switch self {
        case .negate: CK_UNARY_NEGATE
        case .exp: CK_UNARY_EXP
        case .log: CK_UNARY_LOG
        case .sqrt: CK_UNARY_SQRT
        case .pow: CK_UNARY_POW
        case .abs: CK_UNARY_ABS
        case .sin: CK_UNARY_SIN
        case .cos: CK_UNARY_COS
        case .gelu: CK_UNARY_GELU
        }
    }

    /// Whether the gradient is computed from the output (e^x, √x) rather than the input.
    var differentiatesFromOutput: Bool { self == .exp || self == .sqrt }
}

private func unary(_ function: UnaryFunction, _ x: Tensor, _ parameter: Float = 0) -> Tensor {
    let y = Tensor(uninitializedShape: x.shape)
    ck_unary_forward(function.kernel, Int64(x.count), x.value, parameter, y.value)
    if recordsGradient(x) { y.attach(UnaryNode(function, parameter, input: x, output: y)) }
    return y
}

/// The backward pass of a `UnaryFunction`: dx (+)= dy · f′(x), from the saved input or output.
final class UnaryNode: GradientNode {
    private let function: UnaryFunction
    private let parameter: Float

    /// The tensors are borrowed (`__shared`, see
    /// `GradientNode.init(_:input:_:saving:_:outputShape:)`).
    init(_ function: UnaryFunction, _ parameter: Float, input: __shared Tensor,
         output: __shared Tensor) {
        self.function = function
        self.parameter = parameter
        // Negation's gradient needs neither (−dy): it saves nothing, as PyTorch's.
        let saved = function == .negate ? nil
            : function.differentiatesFromOutput ? output : input
        super.init(function.name, input: input, saving: saved, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        guard function != .negate else { return target.add(outputGradient, scaledBy: -1) }
        let saved = savedValue(0)
        let fromOutput = function.differentiatesFromOutput
        ck_unary_backward(function.kernel, Int64(target.count), fromOutput ? nil : saved,
                          fromOutput ? saved : nil, outputGradient.value, parameter,
                          target.accumulateFlag, target.buffer)
    }
}

/// The activations computed by the layers' kernels, whose gradient is a function of the
/// output.
enum ActivationFunction {
    case relu, sigmoid, tanh

    var name: String {
        switch self {
        case .relu: "relu"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        }
    }

    var forward: ElementwiseActivation.Forward {
        switch self {
        case .relu: ck_relu_forward
        case .sigmoid: ck_sigmoid_forward
        case .tanh: ck_tanh_forward
        }
    }

    /// The backward pass's function (`ck_activation_backward`, which can add to a gradient).
    var kernel: ck_activation {
        switch self {
        case .relu: CK_ACTIVATION_RELU
        case .sigmoid: CK_ACTIVATION_SIGMOID
        case .tanh: CK_ACTIVATION_TANH
        }
    }
}

private func activation(_ function: ActivationFunction, _ x: Tensor) -> Tensor {
    let y = Tensor(uninitializedShape: x.shape)
    function.forward(Int64(x.count), x.value, y.value)
    if recordsGradient(x) { y.attach(ActivationNode(function, input: x, output: y)) }
    return y
}

/// The backward pass of an `ActivationFunction`, from the saved output.
final class ActivationNode: GradientNode {
    private let function: ActivationFunction

    /// The tensors are borrowed (`__shared`, see
    /// `GradientNode.init(_:input:_:saving:_:outputShape:)`).
    init(_ function: ActivationFunction, input: __shared Tensor, output: __shared Tensor) {
        self.function = function
        super.init(function.name, input: input, saving: output, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        let y = savedValue(0)
        ck_activation_backward(function.kernel, Int64(target.count), y, outputGradient.value,
                               target.accumulateFlag, target.buffer)
    }
}
