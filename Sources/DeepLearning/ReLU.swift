import CKernels

/// The rectified linear unit, element-wise: `y = max(x, 0)`. Any shape.
///
/// ```swift
/// let relu = ReLU()
/// relu.forward(Tensor(shape: [1, 3], values: [-1, 0, 2])).values   // [0, 0, 2]
/// ```
public final class ReLU: Function {
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init() {}

    public var description: String { "ReLU" }

    public func forward(_ input: Tensor) -> Tensor {
        let output = Tensor.reusing(output, shape: input.shape)
        ck_relu_forward(Int64(input.count), input.value, output.value)
        self.output = output
        return output
    }

    /// dx = dy where the output was positive, 0 elsewhere.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let output else { fatalError("\(self): backward called before forward") }
        require(outputGradient.shape == output.shape,
                     "\(self): output gradient of shape \(outputGradient.shape) does not match the last output's shape \(output.shape)")
        let inputGradient = Tensor.reusing(inputGradient, shape: output.shape)
        ck_relu_backward(Int64(output.count), output.value, outputGradient.value,
                         inputGradient.value)
        self.inputGradient = inputGradient
        return inputGradient
    }
}
