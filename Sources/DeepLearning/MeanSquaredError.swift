import CKernels

/// Mean squared error, as PyTorch's `MSELoss` (mean over all elements): for outputs `p` and
/// targets `t` of the same shape, `Σ (p − t)² / count`, with dLoss/dp = `2 (p − t) / count`.
///
/// With real targets use `forward(_:targets:)`. As a `Loss` over class labels (for `fit`), the
/// targets are the one-hot encodings of the labels.
///
/// ```swift
/// let loss = MeanSquaredError()
/// let value = loss.forward(predictions, targets: expected)   // same shapes
/// let dPredictions = loss.backward()
/// ```
public final class MeanSquaredError: Loss {
    private var outputGradient: Tensor?
    private var oneHot: Tensor?

    public init() {}

    /// The mean squared error of `output` against `targets` (same shape).
    public func forward(_ output: Tensor, targets: Tensor) -> Float {
        require(output.shape == targets.shape && output.count > 0,
                "MeanSquaredError: outputs of shape \(output.shape) and targets of shape \(targets.shape) differ or are empty")
        let gradient = Tensor.reusing(outputGradient, shape: output.shape)
        outputGradient = gradient
        var loss: Float = 0
        ck_mean_squared_error(Int64(output.count), output.value, targets.value, gradient.value,
                              &loss)
        return loss
    }

    /// The mean squared error of `output` (`[batch, classes]`) against the one-hot encodings
    /// of `labels`. Throws for a label outside `0..<classes` or a count that differs.
    public func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws
        -> Float
    {
        require(output.shape.count == 2,
                "MeanSquaredError: outputs of shape \(output.shape) are not [batch, classes]")
        let (rows, classes) = (output.shape[0], output.shape[1])
        try checkLabelCount(labels, rows: rows)
        try checkLabels(labels, classes: classes)
        let targets = Tensor.reusing(oneHot, shape: output.shape)
        oneHot = targets
        targets.value.update(repeating: 0, count: targets.count)
        for (row, label) in labels.enumerated() { targets.value[row * classes + Int(label)] = 1 }
        return forward(output, targets: targets)
    }

    public func backward() -> Tensor {
        guard let outputGradient else {
            fatalError("MeanSquaredError: backward called before forward")
        }
        return outputGradient
    }
}
