import CKernels

/// An activation applied element by element, whose derivative is a function of its output:
/// the shared machinery of `ReLU`, `Sigmoid` and `Tanh`. Any shape.
///
/// ```swift
/// let activations: [ElementwiseActivation] = [ReLU(), Sigmoid(), Tanh()]
/// let y = activations[2].forward(Tensor(shape: [2, 3]))   // [2, 3]
/// ```
public class ElementwiseActivation: Function {
    /// (count, x, y): y = f(x).
    typealias Forward = @convention(c) (Int64, UnsafePointer<Float>?,
                                        UnsafeMutablePointer<Float>?) -> Void

    public let description: String
    private let function: ActivationFunction
    @exclusivity(unchecked) private var output: Tensor?
    @exclusivity(unchecked) private var inputGradient: Tensor?

    init(name: String, _ function: ActivationFunction) {
        description = name
        self.function = function
    }

    /// The activation as a recorded operation: `relu(_:)`, `sigmoid(_:)` or `tanh(_:)`, the
    /// same kernels.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        switch function {
        case .relu: relu(input)
        case .sigmoid: sigmoid(input)
        case .tanh: tanh(input)
        }
    }

    public func forward(_ input: Tensor) -> Tensor {
        let output = Tensor.reusing(output, shape: input.shape)
        function.forward(Int64(input.count), input.value, output.value)
        keep(output, in: &self.output)
        return output
    }

    /// The buffer for a `rows` x `columns` output that another kernel computes in this
    /// activation's place (`Linear`'s fused forward pass); `backward` then works as after
    /// `forward`.
    func outputBuffer(rows: Int, columns: Int) -> Tensor {
        let output = Tensor.reusing(output, rows: rows, columns: columns)
        keep(output, in: &self.output)
        return output
    }

    /// `outputBuffer(rows:columns:)` for an output of any `shape` (`Conv2D`'s fused forward
    /// pass).
    func outputBuffer(shape: [Int]) -> Tensor {
        let output = Tensor.reusing(output, shape: shape)
        keep(output, in: &self.output)
        return output
    }

    /// The last output, for a kernel that passes `outputGradient` back through this activation
    /// together with its own backward pass (`Conv2D`'s fused backward pass), after checking
    /// their shapes.
    func lastOutput(matching outputGradient: Tensor) -> Tensor {
        requireLastOutput(output, matching: outputGradient, for: self)
    }

    /// For a kernel that computes this activation's backward pass together with the gradient
    /// flowing into it (`Linear`'s fused backward pass): the last output, which must be
    /// `rows` x `columns`, and the buffer for dLoss/dInput, which `backward` would return.
    func fusedBackwardBuffers(rows: Int, columns: Int) -> (output: Tensor, inputGradient: Tensor) {
        let output = requireLastOutput(output, for: self, gradientShape: [rows, columns]) {
            $0.isMatrix(rows: rows, columns: columns)
        }
        let inputGradient = Tensor.reusing(inputGradient, rows: rows, columns: columns)
        keep(inputGradient, in: &self.inputGradient)
        return (output, inputGradient)
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let output = lastOutput(matching: outputGradient)
        let inputGradient = Tensor.reusing(inputGradient, shape: output.shape)
        ck_activation_backward(function.kernel, Int64(output.count), output.value,
                               outputGradient.value, 0, inputGradient.value)
        keep(inputGradient, in: &self.inputGradient)
        return inputGradient
    }
}

/// The rectified linear unit, element-wise: `y = max(x, 0)`; dx = dy where y > 0, else 0
/// (so 0 at a NaN input, where PyTorch's passes dy on).
///
/// ```swift
/// let relu = ReLU()
/// relu.forward(Tensor(shape: [1, 3], values: [-1, 0, 2])).values   // [0, 0, 2]
/// ```
public final class ReLU: ElementwiseActivation {
    /// A ReLU; it has no parameters.
    public init() { super.init(name: "ReLU", .relu) }
}

/// The logistic sigmoid, element-wise: `y = 1 / (1 + e^−x)`; dx = dy · y · (1 − y).
///
/// ```swift
/// Sigmoid().forward(Tensor(shape: [1, 1], values: [0])).values   // [0.5]
/// ```
public final class Sigmoid: ElementwiseActivation {
    /// A sigmoid; it has no parameters.
    public init() {
        super.init(name: "Sigmoid", .sigmoid)
    }
}

/// The hyperbolic tangent, element-wise: `y = tanh x`; dx = dy · (1 − y²).
///
/// ```swift
/// Tanh().forward(Tensor(shape: [1, 1], values: [0])).values   // [0]
/// ```
public final class Tanh: ElementwiseActivation {
    /// A tanh; it has no parameters.
    public init() { super.init(name: "Tanh", .tanh) }
}
