import CKernels

/// The multi-class hinge loss, as PyTorch's `MultiMarginLoss` (p = 1, margin 1, mean): for
/// scores `x` (`[batch, classes]`) and labels `t`, the batch mean of
/// `Σ over j ≠ t of max(0, 1 − x[t] + x[j]) / classes`.
///
/// ```swift
/// let loss = MultiMarginLoss()
/// let value = try loss.forward(scores, labels: [1, 0])   // scores: [2, classes]
/// ```
public final class MultiMarginLoss: ClassLabelLoss {
    /// A multi-class hinge loss with PyTorch's defaults (p = 1, margin 1).
    public init() {
        super.init(name: "MultiMarginLoss", kernel: ck_multi_margin)
    }
}
