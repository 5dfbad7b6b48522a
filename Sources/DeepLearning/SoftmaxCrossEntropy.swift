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
public final class SoftmaxCrossEntropy: ClassLabelLoss {
    /// A softmax cross-entropy loss; it has no settings.
    public init() {
        super.init(name: "SoftmaxCrossEntropy", kernel: ck_softmax_cross_entropy)
    }
}
