import CKernels

/// Softmax over each row, for a network's output as class probabilities (for training, prefer
/// `SoftmaxCrossEntropy` on the logits: it is fused and stable). Input and output
/// `[batch, classes]`, at least one class; dx = y ⊙ (dy − Σⱼ dyⱼ yⱼ) row by row.
///
/// ```swift
/// let model = Model { Linear(4, 3); Softmax() }
/// ```
public final class Softmax: Function {
    private var output: Tensor?
    private var inputGradient: Tensor?

    /// A softmax layer; it has no parameters.
    public init() {}

    public var description: String { "Softmax" }

    /// The softmax of each row as a recorded operation (`softmax(_:)`, the same kernels).
    public func callAsFunction(_ input: Tensor) -> Tensor {
        requireClassScores(input)
        return softmax(input)
    }

    public func forward(_ input: Tensor) -> Tensor {
        requireClassScores(input)
        let output = Tensor.reusing(output, shape: input.shape)
        ck_softmax(Int64(input.shape[0]), Int64(input.shape[1]), input.value, output.value)
        self.output = output
        return output
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        let output = requireLastOutput(output, matching: outputGradient, for: self)
        let inputGradient = Tensor.reusing(inputGradient, shape: output.shape)
        ck_softmax_backward(Int64(output.shape[0]), Int64(output.shape[1]), output.value,
                            outputGradient.value, 0, inputGradient.value)
        self.inputGradient = inputGradient
        return inputGradient
    }

    /// Stops with a message naming the layer and the shape unless `input` is `[batch, classes]`
    /// with at least one class, as `softmax(_:)` and `Model.probabilities` require.
    private func requireClassScores(_ input: Tensor) {
        requireMatrix(input, for: self)
        require(input.shape[1] >= 1,
                "\(self): input of shape \(input.shape) has no classes to normalize over")
    }
}
