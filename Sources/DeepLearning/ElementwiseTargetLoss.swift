import CKernels

/// A C kernel of a loss against targets of the output's shape: (count, output, targets,
/// dLoss/dOutput or nil, the loss), the loss being the mean over the elements.
typealias ElementwiseLossKernel = (Int64, UnsafePointer<Float>?, UnsafePointer<Float>?,
                                   UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?)
    -> Void

/// A loss against targets of the output's shape, computed with its gradient by one C kernel,
/// the same kernel as its graph operation (`meanSquaredError(_:_:)`, `l1Loss(_:_:)`,
/// `huberLoss(_:_:delta:)`, `binaryCrossEntropy(logits:targets:)`): the shared machinery of
/// `MeanSquaredError`, `L1Loss`, `HuberLoss` and `BinaryCrossEntropyWithLogits`.
///
/// ```swift
/// let losses: [ElementwiseTargetLoss] = [MeanSquaredError(), L1Loss(), HuberLoss(delta: 1)]
/// let value = try losses[2].forward(predictions, targets: expected)   // same shapes
/// ```
public class ElementwiseTargetLoss: TargetLoss {
    private let name: String
    private let kernel: ElementwiseLossKernel
    @exclusivity(unchecked) private var outputGradient: Tensor?

    init(name: String, kernel: @escaping ElementwiseLossKernel) {
        self.name = name
        self.kernel = kernel
    }

    /// The loss of `output` against `targets` (same shape, at least one element): the mean
    /// over the elements.
    public func forward(_ output: Tensor, targets: Tensor) -> Float {
        require(output.shape == targets.shape && output.count > 0,
                "\(name): outputs of shape \(output.shape) and targets of shape \(targets.shape) differ or are empty")
        let gradient = Tensor.reusing(outputGradient, shape: output.shape)
        outputGradient = gradient
        var loss: Float = 0
        kernel(Int64(output.count), output.value, targets.value, gradient.value, &loss)
        return loss
    }

    /// dLoss/dOutput of the last `forward(_:targets:)`: the loss's buffer, reused by its next
    /// call.
    public func backward() -> Tensor {
        guard let outputGradient else { fatalError("\(name): backward called before forward") }
        return outputGradient
    }
}

/// The L1 loss, as PyTorch's `L1Loss` (mean over all elements): for outputs `p` and targets
/// `t` of the same shape, `Σ |p − t| / count`, with dLoss/dp = `sign(p − t) / count` (0 where
/// p = t, as PyTorch's). The kernel of `l1Loss(_:_:)`.
///
/// ```swift
/// let loss = L1Loss()
/// let value = loss.forward(predictions, targets: expected)   // same shapes
/// let dPredictions = loss.backward()
/// ```
public final class L1Loss: ElementwiseTargetLoss {
    /// The L1 loss, mean over all elements.
    public init() { super.init(name: "L1Loss", kernel: ck_l1_loss) }
}

/// The Huber loss, as PyTorch's `HuberLoss(delta:)` (mean over all elements): for the
/// differences `e = p − t` of outputs and targets of the same shape, the mean of `e² / 2`
/// where `|e| < delta` and `delta (|e| − delta / 2)` elsewhere: squared near 0, linear (less
/// sensitive to outliers) beyond `delta`. dLoss/dp is `clamp(e, −delta, delta) / count`. The
/// kernel of `huberLoss(_:_:delta:)`.
///
/// PyTorch's `SmoothL1Loss(beta)` is this loss divided by `beta` (with `delta = beta`): for
/// `beta = 1` the two are the same.
///
/// ```swift
/// let loss = HuberLoss(delta: 0.5)
/// let value = loss.forward(predictions, targets: expected)   // same shapes
/// ```
public final class HuberLoss: ElementwiseTargetLoss {
    /// Where the loss turns from squared to linear.
    public let delta: Float

    /// A Huber loss that is squared for differences below `delta` (> 0) and linear beyond.
    public init(delta: Float = 1) {
        require(delta > 0 && delta.isFinite,
                "HuberLoss: delta \(delta) must be positive and finite")
        self.delta = delta
        super.init(name: "HuberLoss") { n, p, t, dp, loss in
            ck_huber_loss(n, delta, p, t, dp, loss)
        }
    }
}

/// Binary cross-entropy on logits, as PyTorch's `BCEWithLogitsLoss` (mean over all elements):
/// for logits `z` and targets `t` in [0, 1] of the same shape, the mean of
/// `−t log σ(z) − (1 − t) log(1 − σ(z))`, computed stably as `max(z, 0) − z t + log(1 + e^−|z|)`
/// (finite for finite logits of any size; for an infinite logit its limit, as
/// `binaryCrossEntropy(logits:targets:)` says), with dLoss/dz = `(σ(z) − t) / count`. The
/// kernel of `binaryCrossEntropy(logits:targets:)`.
///
/// ```swift
/// let loss = BinaryCrossEntropyWithLogits()
/// let value = loss.forward(logits, targets: expected)   // same shapes, targets in [0, 1]
/// ```
public final class BinaryCrossEntropyWithLogits: ElementwiseTargetLoss {
    /// Binary cross-entropy on logits, mean over all elements.
    public init() {
        super.init(name: "BinaryCrossEntropyWithLogits") { n, z, t, dz, loss in
            loss!.pointee = ck_binary_cross_entropy_logits(n, z, t, dz, nil)
        }
    }
}
