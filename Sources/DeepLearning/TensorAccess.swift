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
        storage.version &+= 1
        return try body(UnsafeMutableBufferPointer(start: value, count: count))
    }

    /// The only value of a one-element tensor (a scalar, shape `[]`): PyTorch's `item()`.
    public var scalar: Float {
        require(count == 1, "Tensor.scalar: a tensor of shape \(shape) has \(count) elements, not 1")
        return value.pointee
    }
}
