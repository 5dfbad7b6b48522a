import CKernels

// Softmax, log-softmax and the losses as recorded operations. The losses return a scalar (the
// mean over the batch or the elements); their kernels compute the gradient with the loss, and
// the node scales it by the gradient of the loss in the backward pass.

/// The softmax along the last axis (`ck_softmax`, from each row's maximum): each row of the
/// result is positive and sums to 1. Any rank of at least 1.
public func softmax(_ x: Tensor) -> Tensor { normalizeRows(x, "softmax", ck_softmax) }

/// The logarithm of the softmax along the last axis, computed stably
/// (z − max − log Σ exp(z − max)). Any rank of at least 1.
public func logSoftmax(_ x: Tensor) -> Tensor { normalizeRows(x, "logSoftmax", ck_log_softmax) }

/// `kernel` (rows, classes, x, y) over the rows of the last axis, recorded as `operation`.
private func normalizeRows(
    _ x: Tensor, _ operation: String,
    _ kernel: (Int64, Int64, UnsafePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void
) -> Tensor {
    require(x.shape.count >= 1 && x.shape[x.shape.count - 1] >= 1,
            "\(operation): shape \(x.shape) has no last axis to normalize over")
    let classes = x.shape[x.shape.count - 1], rows = x.count / classes
    let y = Tensor(uninitializedShape: x.shape)
    kernel(Int64(rows), Int64(classes), x.value, y.value)
    if recordsGradient(x) {
        y.attach(RowNormalizationNode(operation, input: x, output: y, rows: rows))
    }
    return y
}

/// The mean over the batch of −log softmax(logits)[label] (PyTorch's `cross_entropy` with
/// integer targets): `logits` `[batch, classes]`, one label per row. The fused kernel of
/// `SoftmaxCrossEntropy` computes it with its gradient in one pass. A scalar.
///
/// Throws `DeepLearningError.countMismatch` when there is not one label per row and
/// `.labelOutOfRange` for a label outside `0..<classes`.
public func crossEntropy(_ logits: Tensor, labels: [Int32]) throws -> Tensor {
    require(logits.shape.count == 2 && logits.shape[0] >= 1 && logits.shape[1] >= 1,
            "crossEntropy: logits of shape \(logits.shape) are not [batch, classes] with at least one of each")
    let (rows, classes) = (logits.shape[0], logits.shape[1])
    try checkLabelCount(labels, rows: rows)
    let loss = Tensor(uninitializedShape: [])
    let records = recordsGradient(logits)
    let gradient = records ? Tensor(uninitializedShape: logits.shape) : nil
    let status = ck_softmax_cross_entropy(Int64(rows), Int64(classes), logits.value, labels,
                                          gradient?.value, loss.value)
    if status == CK_ERROR_LABEL_OUT_OF_RANGE { try checkLabels(labels, classes: classes) }
    if let gradient {
        loss.attach(ScaledGradientsNode("crossEntropy", input: logits, gradient: gradient))
    }
    return loss
}

/// The mean over all elements of (prediction − target)² (PyTorch's `mse_loss`); both of one
/// shape. A scalar; differentiable in both arguments.
public func meanSquaredError(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
    differenceLoss("meanSquaredError", predictions, targets, kernel: ck_mean_squared_error)
}

/// The mean over all elements of the binary cross-entropy between sigmoid(logits) and
/// targets in [0, 1], computed from the logits stably (PyTorch's
/// `binary_cross_entropy_with_logits`): max(z, 0) − z·t + log(1 + e^−|z|), for an infinite
/// logit its limit (∞ · (1 − t) at +∞, ∞ · t at −∞, 0 where that weight is 0; PyTorch's is
/// NaN at +∞ with target 1 and at −∞ with any target). Both of one shape. A scalar;
/// differentiable in both arguments.
public func binaryCrossEntropy(logits: Tensor, targets: Tensor) -> Tensor {
    require(logits.shape == targets.shape && logits.count >= 1,
            "binaryCrossEntropy: logits of shape \(logits.shape) and targets of shape \(targets.shape) differ or are empty")
    let loss = Tensor(uninitializedShape: [])
    let records = recordsGradient(logits, targets)
    let dz = records && logits.requiresGradient ? Tensor(uninitializedShape: logits.shape) : nil
    let dt = records && targets.requiresGradient ? Tensor(uninitializedShape: targets.shape) : nil
    loss.value.pointee = ck_binary_cross_entropy_logits(Int64(logits.count), logits.value,
                                                        targets.value, dz?.value, dt?.value)
    if records {
        // A gradient that is not needed is never read: the logits' stands in for it.
        loss.attach(ScaledGradientsNode("binaryCrossEntropy", logits, targets,
                                        gradients: (dz ?? dt!, dt ?? dz!)))
    }
    return loss
}

/// The backward pass of `softmax` (`ck_softmax_backward`) or `logSoftmax`
/// (`ck_log_softmax_backward`), from the saved output.
final class RowNormalizationNode: GradientNode {
    private let rows: Int

    /// `operation`: "softmax" or "logSoftmax".
    init(_ operation: String, input: Tensor, output: Tensor, rows: Int) {
        self.rows = rows
        super.init(operation, input: input, saving: output, outputShape: output.shape)
    }

    override func backward(_ outputGradient: Tensor) {
        guard let target = gradientTarget(forInput: 0) else { return }
        let y = savedValue(0), dy = outputGradient.value
        let (rows, classes) = (Int64(rows), Int64(rows == 0 ? 0 : target.count / rows))
        let backward = operation == "softmax" ? ck_softmax_backward : ck_log_softmax_backward
        backward(rows, classes, y, dy, target.accumulateFlag, target.buffer)
    }
}

/// The backward pass of a scalar loss whose kernel computed the gradient of each input (one
/// or two) with the loss: input i's gradient is sign_i · dLoss · gradient_i.
final class ScaledGradientsNode: GradientNode {
    /// The inputs' gradients (the second nil for one input), dropped after the backward pass.
    @exclusivity(unchecked) private var firstGradient: Tensor?, secondGradient: Tensor?
    private let firstSign: Float, secondSign: Float

    /// The node of a loss of `input`, whose gradient is `gradient`.
    init(_ operation: String, input: Tensor, gradient: Tensor) {
        firstGradient = gradient
        (firstSign, secondSign) = (1, 1)
        super.init(operation, input: input, outputShape: [])
    }

    /// The node of a loss of `first` and `second`, whose gradients are `gradients` times
    /// `signs` (one tensor may stand for both).
    init(_ operation: String, _ first: Tensor, _ second: Tensor,
         gradients: (Tensor, Tensor), signs: (Float, Float) = (1, 1)) {
        (firstGradient, secondGradient) = gradients
        (firstSign, secondSign) = signs
        super.init(operation, input: first, second, outputShape: [])
    }

    /// A gradient tensor is handed on without a copy where it can be (`passGradient`), to
    /// one input at most: the second input first, so that the input that takes a tensor is
    /// the last to read it.
    override func backward(_ outputGradient: Tensor) {
        let scale = outputGradient.value.pointee
        if let secondGradient {
            passGradient(secondGradient, scaledBy: secondSign * scale,
                         owned: secondGradient !== firstGradient, toInput: 1)
        }
        if let firstGradient {
            passGradient(firstGradient, scaledBy: firstSign * scale, owned: true, toInput: 0)
        }
        firstGradient = nil
        secondGradient = nil
    }
}
