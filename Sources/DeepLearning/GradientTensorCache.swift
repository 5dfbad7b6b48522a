import Synchronization

/// A per-thread stack of a few tiny gradient tensors that `backward()` has finished with,
/// handed out again as the next gradient tensors of their shape: a backward pass through
/// operations on tiny tensors then creates no tensor object (nor storage) for the gradients
/// it passes between nodes, after the first.
///
/// Only a tensor that nothing else references (nor its storage), of at most
/// `TensorStorage.inlineCount` elements, with no gradient, node or hook of its own, is kept:
/// one that is, as far as anyone can tell, a new tensor. A thread's tensors are freed when the
/// thread ends.
enum GradientTensorCache {
    /// The tensors kept per thread.
    static let slots = 4

    /// A tensor of `shape` whose values are unspecified: the last one recycled on this thread
    /// when it has that shape, else a new one.
    static func tensor(shape: [Int]) -> Tensor {
        takeFromThreadObjectStack(key, slots: slots, as: Tensor.self) { $0.shape == shape }
            ?? Tensor(uninitializedShape: shape)
    }

    /// Keeps `tensor`, a gradient the graph no longer uses, when it can be handed out as new
    /// (see above) and this thread's stack has room; otherwise lets it go.
    static func recycle(_ tensor: consuming Tensor) {
        var tensor = tensor
        guard tensor.count <= TensorStorage.inlineCount, tensor.isPlain,
              isKnownUniquelyReferenced(&tensor), isKnownUniquelyReferenced(&tensor.storage)
        else { return }
        keepOnThreadObjectStack(tensor, key, slots: slots)
    }

    /// The key of each thread's stack of tensors (`keepOnThreadObjectStack`).
    private static let key = Atomic<ThreadKey>(noThreadKey)
}
