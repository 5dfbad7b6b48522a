/// The buffer of floats behind a tensor and its views (`reshaped`, `rows(_:)`), with the
/// version count they share.
///
/// The buffer comes from `BufferPool.shared` (through the calling thread's
/// `ThreadBufferCache`) and goes back to it when the last tensor using it is freed. The
/// version counts writes: `Tensor.withUnsafeMutableBufferPointer` raises it, and a node of the
/// graph that saved a tensor for its backward pass checks that the version is still the one
/// it saved (PyTorch's version counter). Writes through the `value` pointer are not counted.
final class TensorStorage {
    /// The first float; 64-byte aligned.
    let base: UnsafeMutablePointer<Float>
    /// The number of floats asked for (the buffer may hold more).
    let count: Int
    private let sizeClass: Int
    /// The number of counted writes so far.
    @exclusivity(unchecked) var version = 0

    /// A buffer of `count` floats, zeros when `zeroed`, unspecified values otherwise.
    init(count: Int, zeroed: Bool) {
        (base, sizeClass) = ThreadBufferCache.take(count: count)
        self.count = count
        if zeroed { base.update(repeating: 0, count: count) }
    }

    deinit { ThreadBufferCache.give(base, sizeClass: sizeClass) }
}
