/// A loss over a batch of network outputs and integer class labels.
///
/// `forward(_:labels:)` returns the mean loss of the batch and remembers what `backward()`
/// needs; `backward()` returns dLoss/dOutput for that batch (the loss's own buffer, reused by
/// its next call).
///
/// ```swift
/// let loss: any Loss = SoftmaxCrossEntropy()
/// let value = try loss.forward(model.forward(x), labels: y)   // y: one label per row of x
/// _ = model.backward(loss.backward())
/// ```
public protocol Loss: AnyObject {
    /// The mean loss of `output` (`[batch, classes]`) against one label per row.
    /// Throws `DeepLearningError.labelOutOfRange` for a label outside `0..<classes` and
    /// `countMismatch` when the numbers of rows and labels differ.
    func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws -> Float
    /// dLoss/dOutput of the last `forward(_:labels:)`.
    func backward() -> Tensor
}

/// A loss over a batch of network outputs and targets of the same shape (regression, or
/// probabilities for binary cross-entropy): what `Model.fit(_:targets:loss:...)` trains with.
///
/// `forward(_:targets:)` returns the loss (PyTorch's mean reduction) and remembers what
/// `backward()` needs; `backward()` returns dLoss/dOutput for that batch (the loss's own
/// buffer, reused by its next call).
///
/// ```swift
/// let loss = HuberLoss(delta: 1)
/// let value = try loss.forward(predictions, targets: expected)   // same shapes
/// let dPredictions = loss.backward()
/// ```
public protocol TargetLoss: AnyObject {
    /// The loss of `output` against `targets`, of the same shape.
    func forward(_ output: Tensor, targets: Tensor) throws -> Float
    /// dLoss/dOutput of the last `forward(_:targets:)`.
    func backward() -> Tensor
}

/// Throws for the first label outside `0..<classes`, naming it and its index.
func checkLabels<Labels: Collection<Int32>>(_ labels: Labels, classes: Int) throws {
    for (index, label) in labels.enumerated() where !(0..<classes).contains(Int(label)) {
        throw DeepLearningError.labelOutOfRange(label: Int(label), index: index, classes: classes)
    }
}

/// Throws `countMismatch` unless there is one label per row of the `rows` outputs.
func checkLabelCount<Labels: Collection<Int32>>(_ labels: Labels, rows: Int) throws {
    guard labels.count == rows else {
        throw DeepLearningError.countMismatch(samples: rows, labels: labels.count)
    }
}
