/// A 64-bit integer that a layer keeps as part of its trained state, shared by reference like
/// a parameter `Tensor`: `BatchNorm`'s count of training batches, PyTorch's
/// `num_batches_tracked`. `Model.save(to:)` writes it as an I64 scalar (shape `[]`) and
/// `Model.load(from:)` reads it back. A file holds counts 0 through 2⁵³ only: saving a counter
/// outside them stops with a message, and loading one throws.
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

    /// The counts a file may hold, which saving writes and loading reads: 0 through 2⁵³.
    /// Training adds one a step or a batch, so no training reaches 2⁵³ (285 years at a step a
    /// microsecond), and counting on from any of them cannot overflow; Adam's bias
    /// corrections, `pow(β, Double(step))`, take them exactly.
    static let storableCounts: ClosedRange<Int64> = 0...(1 << 53)
}
