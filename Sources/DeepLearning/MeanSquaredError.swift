import CKernels

/// Mean squared error, as PyTorch's `MSELoss` (mean over all elements): for outputs `p` and
/// targets `t` of the same shape, `Σ (p − t)² / count`, with dLoss/dp = `2 (p − t) / count`.
/// The kernel of `meanSquaredError(_:_:)`.
///
/// With real targets use `forward(_:targets:)` (and `Model.fit(_:targets:...)`). As a `Loss`
/// over class labels (for `fit(_:labels:...)`), the targets are the one-hot encodings of the
/// labels.
///
/// ```swift
/// let loss = MeanSquaredError()
/// let value = loss.forward(predictions, targets: expected)   // same shapes
/// let dPredictions = loss.backward()
/// ```
public final class MeanSquaredError: ElementwiseTargetLoss, Loss {
    private var oneHot: Tensor?

    /// Mean squared error, mean over all elements.
    public init() { super.init(name: "MeanSquaredError", kernel: ck_mean_squared_error) }

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
}
