import CKernels

/// Scales the gradients of `parameters` together so that their total 2-norm is at most
/// `maxNorm`, and returns the total norm they had: PyTorch's
/// `torch.nn.utils.clip_grad_norm_(parameters, max_norm)` (`norm_type` 2,
/// `error_if_nonfinite` false).
///
/// The total norm is the square root of the sum of the squares of every gradient's elements,
/// summed in double (the same bits whatever the thread count; PyTorch takes each tensor's
/// norm in float first, so the two may differ in the last bit). Every gradient is then
/// multiplied by PyTorch's coefficient `maxNorm / (total + 1e-6)` (in `Float`) when that is
/// below 1, and left as it is otherwise. A parameter without a gradient (`hasGradient`
/// false) is skipped, and a tensor listed twice counts once.
///
/// A total that is infinite or NaN scales anyway, as PyTorch's default does: an infinite
/// total multiplies every gradient by 0 (making its infinite elements NaN), a NaN total makes
/// every gradient NaN. The returned total tells: skip the step when it is not finite.
///
/// Call it between the backward pass and the optimizer's step:
///
/// ```swift
/// optimizer.zeroGrad()
/// let loss = SoftmaxCrossEntropy()
/// _ = try loss.forward(model.forward(x), labels: y)
/// model.backward(loss.backward())
/// let norm = clipGradientNorm(model.parameters, maxNorm: 1)
/// optimizer.step()
/// ```
///
/// In `Model.fit`, `beforeStep` runs there, for every batch:
///
/// ```swift
/// try model.fit(x, labels: y, optimizer: optimizer, epochs: 10, batchSize: 32,
///               beforeStep: { _, _ in clipGradientNorm(model.parameters, maxNorm: 1) })
/// ```
///
/// Stops with a message when `maxNorm` is negative or NaN; an infinite `maxNorm` never
/// scales.
@discardableResult
public func clipGradientNorm(_ parameters: [Tensor], maxNorm: Float) -> Float {
    requireNotNegative(maxNorm, "clipGradientNorm", "maxNorm")
    var seen = Set<ObjectIdentifier>()
    let withGradients = parameters.filter {
        $0.hasGradient && seen.insert(ObjectIdentifier($0)).inserted
    }
    let sumOfSquares = withGradients.reduce(0.0) {
        $0 + ck_sum_of_squares(Int64($1.count), $1.gradientPointer)
    }
    let total = Float(sumOfSquares.squareRoot())
    let coefficient = maxNorm / (total + 1e-6)
    // Not `coefficient < 1`: a NaN coefficient scales too, as PyTorch's clamp keeps NaN.
    if !(coefficient >= 1) {
        for parameter in withGradients {
            let gradient = parameter.writableGradientPointer
            ck_scaled_add(Int64(parameter.count), coefficient, gradient, 0, gradient)
        }
    }
    return total
}
