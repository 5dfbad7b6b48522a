/// Flattens every dimension after the first: `[batch, d1, d2, ...]` becomes
/// `[batch, d1 · d2 · ...]` (row-major order is kept, so this is a copy of the same values);
/// backward restores the input's shape. Put it between convolutional and `Linear` layers.
///
/// ```swift
/// Flatten().forward(Tensor(shape: [2, 3, 4])).shape   // [2, 12]
/// ```
public final class Flatten: Function {
    private var inputShape: [Int] = []
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// A flattening layer; it has no parameters.
    public init() {}

    public var description: String { "Flatten" }

    /// The input viewed as `[batch, d1 · d2 · ...]` (`reshaped`: no copy), recorded.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        require(input.shape.count >= 2,
                "\(self): input of shape \(input.shape) has no batch dimension to keep")
        let shape = input.shape
        return input.reshaped([shape[0], sampleWidth(shape)])
    }

    public func forward(_ input: Tensor) -> Tensor {
        require(input.shape.count >= 2,
                "\(self): input of shape \(input.shape) has no batch dimension to keep")
        let shape = input.shape
        inputShape = shape
        let output = Tensor.reusing(output, rows: shape[0], columns: sampleWidth(shape))
        output.value.update(from: input.value, count: input.count)
        self.output = output
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        _ = requireLastOutput(output, matching: outputGradient, for: self)
        let inputGradient = Tensor.reusing(inputGradient, shape: inputShape)
        inputGradient.value.update(from: outputGradient.value, count: outputGradient.count)
        self.inputGradient = inputGradient
        return inputGradient
    }

    /// d1 · d2 · ... for an input of `shape` `[batch, d1, d2, ...]`: from the dimensions, not
    /// the element count, so that an empty batch keeps its width (`[0, d1 · d2 · ...]`, as in
    /// PyTorch).
    private func sampleWidth(_ shape: [Int]) -> Int {
        shape.dropFirst().reduce(1, *)
    }
}
