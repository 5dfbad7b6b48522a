// Reading and writing a tensor's values without stored pointers: closure-scoped buffers,
// the writes counted in the version that the graph's saved tensors check.

extension Tensor {
    /// The closure-scoped values, read-only.
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeBufferPointer(start: value, count: count))
    }

    /// The closure-scoped values, for writing: raises `version` (shared with the views), so
    /// that a node which saved this tensor for its backward pass detects the change.
    public func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        storage.versionPointer.pointee &+= 1
        return try body(UnsafeMutableBufferPointer(start: value, count: count))
    }

    /// The closure-scoped gradient, read-only: `count` elements, this tensor's shape, row-major.
    /// A tensor that has no gradient (no `backward()` reached it since `zeroGradient()`) shows
    /// zeros, in a buffer allocated if it has none yet, so the closure always sees `count`
    /// elements; reading does not give it a gradient (an optimizer still leaves it out), but
    /// from then on `gradient` is that buffer rather than nil.
    ///
    /// ```swift
    /// let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
    /// (w * w).sum().backward()
    /// let norm = w.withUnsafeGradientBufferPointer { $0.reduce(0) { $0 + $1 * $1 } }  // 20
    /// ```
    public func withUnsafeGradientBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeBufferPointer(start: gradientForReading, count: count))
    }

    /// The closure-scoped gradient, for writing (a hand-written backward pass accumulating
    /// into a parameter's gradient, a gradient averaged across processes): `count` elements,
    /// allocated and zeroed first when the tensor has no gradient yet, as
    /// `withUnsafeGradientBufferPointer(_:)`; the tensor has a gradient afterwards, which an
    /// optimizer's step uses. Raises the version of the gradient's storage,
    /// which the tensor `gradient` returns shares, so that a node which saved that tensor
    /// detects the change.
    public func withUnsafeMutableGradientBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeMutableBufferPointer(start: writableGradientPointer, count: count))
    }

    /// The only value of a one-element tensor (a scalar, shape `[]`): PyTorch's `item()`.
    public var scalar: Float {
        require(count == 1, "Tensor.scalar: a tensor of shape \(shape) has \(count) elements, not 1")
        return value.pointee
    }
}
