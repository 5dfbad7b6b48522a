/// Whether operations record nodes for `backward()`: on, except inside
/// `withoutGradientRecording(_:)`. Per task (per thread outside Swift concurrency), as
/// PyTorch's grad mode is per thread.
///
/// ```swift
/// GradientRecording.isEnabled                               // true
/// withoutGradientRecording { GradientRecording.isEnabled }  // false
/// ```
public enum GradientRecording {
    @TaskLocal static var isDisabled = false

    /// Whether operations on tensors that require a gradient record it here.
    public static var isEnabled: Bool { !isDisabled }
}

/// `body`'s result with nothing recorded: operations inside return tensors that require no
/// gradient and keep no graph, whatever their inputs (PyTorch's `torch.no_grad()`). For
/// inference, and for updating parameters by hand. Holds on the calling thread (task) only.
///
/// ```swift
/// let prediction = withoutGradientRecording { relu(matmul(x, w)) }
/// prediction.requiresGradient   // false
/// ```
public func withoutGradientRecording<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientRecording.$isDisabled.withValue(true, operation: body)
}

/// `body`'s result with recording on, whatever the caller's setting: for `Model.fit`, whose
/// training needs the gradients.
func withGradientRecording<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientRecording.$isDisabled.withValue(false, operation: body)
}

/// Whether an operation on `input` records a node: the input requires a gradient and
/// recording is on.
@inline(__always)
func recordsGradient(_ input: Tensor) -> Bool {
    input.isGradientRequired && GradientRecording.isEnabled
}

/// Whether an operation on `first` and `second` records a node.
@inline(__always)
func recordsGradient(_ first: Tensor, _ second: Tensor) -> Bool {
    (first.isGradientRequired || second.isGradientRequired) && GradientRecording.isEnabled
}

/// Whether an operation on `inputs` records a node.
func recordsGradient(_ inputs: [Tensor]) -> Bool {
    inputs.contains { $0.isGradientRequired } && GradientRecording.isEnabled
}

extension Tensor {
    /// A tensor sharing this one's storage (writes to either show in both, and count in
    /// both's `version`) that requires no gradient and has no node: what the graph does not
    /// see. PyTorch's `detach()`.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, value: value)
    }

    /// Makes `node` this tensor's producer: it then requires a gradient. For the result of an
    /// operation, right after it was computed.
    func attach(_ node: GradientNode) {
        gradientNode = node
        isGradientRequired = true
    }

    /// Makes this tensor a leaf that requires no gradient, as the result of an operation that
    /// records nothing is: for an operand taken over as such a result (`isReusableAsResult`).
    func makeUnrecorded() {
        gradientNode = nil
        isGradientRequired = false
    }
}
