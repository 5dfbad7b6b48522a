import CKernels

// The losses of a difference (prediction − target) as recorded operations: mean squared
// error, L1 and Huber. Each runs the kernel of its `Loss` type (`MeanSquaredError`, `L1Loss`,
// `HuberLoss`), which computes the gradient with the loss.

/// The mean over all elements of |prediction − target| (PyTorch's `l1_loss`); both of one
/// shape. Its gradient is sign(prediction − target) / count, 0 where they are equal (as
/// PyTorch's). A scalar; differentiable in both arguments.
public func l1Loss(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
    differenceLoss("l1Loss", predictions, targets, kernel: ck_l1_loss)
}

/// The Huber loss (PyTorch's `huber_loss`, mean reduction) of the differences
/// e = prediction − target, both of one shape: the mean of e² / 2 where |e| < `delta` and
/// delta (|e| − delta / 2) elsewhere, `delta` > 0. PyTorch's `smooth_l1_loss(beta:)` is
/// `huberLoss(p, t, delta: beta) / beta`. A scalar; differentiable in both arguments.
public func huberLoss(_ predictions: Tensor, _ targets: Tensor, delta: Float = 1) -> Tensor {
    require(delta > 0 && delta.isFinite, "huberLoss: delta \(delta) must be positive and finite")
    return differenceLoss("huberLoss", predictions, targets) { n, p, t, dp, loss in
        ck_huber_loss(n, delta, p, t, dp, loss)
    }
}

/// The scalar loss `kernel` computes of `predictions` against `targets` (one shape), recorded
/// as `operation`: the loss depends on their difference, so the targets' gradient is the
/// predictions' negated.
func differenceLoss(_ operation: String, _ predictions: Tensor, _ targets: Tensor,
                    kernel: ElementwiseLossKernel) -> Tensor {
    require(predictions.shape == targets.shape && predictions.count >= 1,
            "\(operation): predictions of shape \(predictions.shape) and targets of shape \(targets.shape) differ or are empty")
    let loss = Tensor(uninitializedShape: [])
    let records = recordsGradient(predictions, targets)
    let gradient = records ? Tensor(uninitializedShape: predictions.shape) : nil
    kernel(Int64(predictions.count), predictions.value, targets.value, gradient?.value,
           loss.value)
    if let gradient {
        loss.attach(ScaledGradientsNode(operation, predictions, targets,
                                        gradients: (gradient, gradient), signs: (1, -1)))
    }
    return loss
}
