/// A loss written with operations, for `Model.fit`: a closure from the model's output and
/// the batch's targets (a `Tensor`, for `fit(_:targets:...)`) or labels (`[Int32]`, for
/// `fit(_:labels:...)`) to a scalar tensor built of graph operations. `backward()` is the
/// graph's gradient of that scalar with respect to the output.
///
/// ```swift
/// let pseudoHuber = CustomLoss { (output: Tensor, targets: Tensor) in
///     (sqrt(pow(output - targets, 2) + 1) - 1).mean()
/// }
/// try model.fit(x, targets: y, loss: pseudoHuber, optimizer: optimizer, epochs: 50,
///               batchSize: 32)
/// let smoothed = CustomLoss { (output: Tensor, labels: [Int32]) in
///     try crossEntropy(output, labels: labels) + 0.01 * (output * output).mean()
/// }
/// ```
///
/// `forward` evaluates the closure on a leaf that shares the output's values and requires a
/// gradient; `backward()` runs the graph's backward pass from the scalar (freeing the graph)
/// and returns the leaf's gradient. The closure may use other tensors that require a gradient
/// (a penalty on a parameter): they receive their gradient in that backward pass, which
/// `fit` runs after zeroing the gradients. A loss of the same kernels as a `TargetLoss` type
/// gives the same bits: `CustomLoss { meanSquaredError($0, $1) }` trains exactly as
/// `MeanSquaredError()`.
public final class CustomLoss<Targets> {
    private let body: (Tensor, Targets) throws -> Tensor
    /// The last forward pass: the output as a leaf, and the loss, until `backward()`.
    private var output: Tensor?
    private var loss: Tensor?

    /// A loss computed by `body` from the output and the targets (or labels): a scalar
    /// tensor (shape `[]`, or one element) of operations on the output. Its `forward` must
    /// run with gradient recording on, as `Model.fit` runs it.
    public init(_ body: @escaping (_ output: Tensor, _ targets: Targets) throws -> Tensor) {
        self.body = body
    }

    /// Evaluates the loss of `output` against `targets`, recording its graph.
    private func evaluate(_ output: Tensor, _ targets: Targets) throws -> Float {
        require(GradientRecording.isEnabled,
                "CustomLoss: gradient recording is off (inside withoutGradientRecording, or in a task started there), so the loss's graph cannot be recorded for backward(); call forward where recording is on (Model.fit switches it on)")
        let leaf = output.detached()
        leaf.requiresGradient = true
        let loss = try body(leaf, targets)
        require(loss.count == 1 && loss.requiresGradient,
                "CustomLoss: the loss of shape \(loss.shape) is not a scalar computed from the output with operations (requiring a gradient)")
        (self.output, self.loss) = (leaf, loss)
        return loss.scalar
    }

    /// dLoss/dOutput of the last forward pass (a new tensor after each forward pass, sharing
    /// the leaf's gradient buffer). Stops when the loss does not depend on the output (no
    /// gradient reached it, as when the closure returns only a penalty on a parameter): the
    /// model would receive no gradient and not learn.
    public func backward() -> Tensor {
        guard let output else { fatalError("CustomLoss: backward called before forward") }
        if let loss {
            loss.backward()
            self.loss = nil
        }
        guard let gradient = output.gradient else {
            fatalError("CustomLoss: the loss does not depend on the output of shape \(output.shape) (no gradient reached it); compute the loss from the output with operations")
        }
        return gradient
    }
}

extension CustomLoss: TargetLoss where Targets == Tensor {
    /// The closure's loss of `output` against `targets`, its graph recorded for `backward()`.
    public func forward(_ output: Tensor, targets: Tensor) throws -> Float {
        try evaluate(output, targets)
    }
}

extension CustomLoss: Loss where Targets == [Int32] {
    /// The closure's loss of `output` against `labels`, its graph recorded for `backward()`.
    public func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws
        -> Float
    {
        try evaluate(output, Array(labels))
    }
}
