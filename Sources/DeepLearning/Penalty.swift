import CKernels

/// L1 and L2 penalties on chosen parameters, added to the loss and to the gradients (unlike an
/// optimizer's weight decay, which only changes the update):
///
///     penalty = l1 · Σ |p| + l2 · Σ p²,   dpenalty/dp = l1 · sign(p) + 2 · l2 · p
///
/// `Model.fit` applies its penalties after every backward pass and reports the loss with them.
///
/// ```swift
/// let weights = model.layers.compactMap { ($0 as? Linear)?.weight }
/// try model.fit(x, labels: y, optimizer: optimizer, epochs: 10, batchSize: 32,
///               penalties: [Penalty(parameters: weights, l2: 1e-4)])
/// ```
public struct Penalty {
    /// The tensors penalized (not necessarily all of a model's: usually the weights, not the
    /// biases).
    public let parameters: [Tensor]
    /// The coefficient of Σ |p| (default 0).
    public let l1: Float
    /// The coefficient of Σ p² (default 0; the gradient is 2 · l2 · p).
    public let l2: Float

    /// A penalty of `l1 · Σ |p| + l2 · Σ p²` over `parameters`. Stops with a message when `l1`
    /// or `l2` is negative or NaN, or a tensor is listed twice.
    public init(parameters: [Tensor], l1: Float = 0, l2: Float = 0) {
        requireNotNegative(l1, "Penalty", "l1")
        requireNotNegative(l2, "Penalty", "l2")
        requireDistinct(parameters, "Penalty")
        self.parameters = parameters
        self.l1 = l1
        self.l2 = l2
    }

    /// Adds the penalty's gradient to every parameter's gradient and returns its value.
    public func apply() -> Float {
        var total = 0.0
        for parameter in parameters {
            total += ck_penalty(Int64(parameter.count), parameter.value,
                                parameter.writableGradientPointer, l1, l2)
        }
        return Float(total)
    }
}
