import CKernels

/// Softmax followed by cross-entropy, fused: from logits `z` (`[batch, classes]`) and labels
/// `t`, the loss is the batch mean of `-log softmax(z)[t]` and dLoss/dz is
/// `(softmax(z) - onehot(t)) / batch`. Computed from each row's maximum, so it stays finite for
/// logits of any size.
///
/// ```swift
/// let loss = SoftmaxCrossEntropy()
/// let value = try loss.forward(logits, labels: [0, 2])   // logits: [2, classes]
/// let dLogits = loss.backward()
/// ```
public final class SoftmaxCrossEntropy: Loss {
    private var logitsGradient: Tensor?

    public init() {}

    public func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws
        -> Float
    {
        require(output.shape.count == 2,
                     "SoftmaxCrossEntropy: logits of shape \(output.shape) are not [batch, classes]")
        let (rows, classes) = (output.shape[0], output.shape[1])
        guard labels.count == rows else {
            throw DeepLearningError.countMismatch(samples: rows, labels: labels.count)
        }
        let gradient = Tensor.reusing(logitsGradient, shape: output.shape)
        logitsGradient = gradient
        var loss: Float = 0
        func compute(_ labels: UnsafeBufferPointer<Int32>) -> Int32 {
            ck_softmax_cross_entropy(Int64(rows), Int64(classes), output.value,
                                     labels.baseAddress, gradient.value, &loss)
        }
        let status = labels.withContiguousStorageIfAvailable(compute)
            ?? Array(labels).withUnsafeBufferPointer(compute)
        if status == CK_ERROR_LABEL_OUT_OF_RANGE { try checkLabels(labels, classes: classes) }
        return loss
    }

    public func backward() -> Tensor {
        guard let logitsGradient else {
            fatalError("SoftmaxCrossEntropy: backward called before forward")
        }
        return logitsGradient
    }
}
