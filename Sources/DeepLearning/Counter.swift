/// A 64-bit integer that a layer keeps as part of its trained state, shared by reference like
/// a parameter `Tensor`: `BatchNorm`'s count of training batches, PyTorch's
/// `num_batches_tracked`. `Model.save(to:)` writes it as an I64 scalar (shape `[]`) and
/// `Model.load(from:)` reads it back.
///
/// ```swift
/// let norm = BatchNorm(features: 4)
/// _ = norm.forward(Tensor(shape: [8, 4]))   // training mode
/// norm.batchesTracked.value                 // 1
/// ```
public final class Counter {
    /// The count. (Unchecked exclusivity: training steps update it, and nothing passes it
    /// `inout` while reaching it another way.)
    @exclusivity(unchecked) public var value: Int64

    /// A counter holding `value`.
    public init(_ value: Int64 = 0) { self.value = value }
}
