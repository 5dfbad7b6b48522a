/// A 64-bit integer that a layer keeps as part of its trained state, shared by reference like
/// a parameter `Tensor`: `BatchNorm`'s count of training batches, PyTorch's
/// `num_batches_tracked`. `Model.save(to:)` writes it as an I64 scalar (shape `[]`) and
/// `Model.load(from:)` reads it back. Loading reads counts 0 through 2⁵³ only and throws on
/// any other; saving writes any count that is not negative, so that counting on from a loaded
/// count never makes a save stop; a negative count, which no training makes, stops saving
/// with a message.
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

    /// The counts that loading reads: 0 through 2⁵³. Training adds one a step or a batch, so
    /// no training reaches 2⁵³ (285 years at a step a microsecond), and counting on from any
    /// of them cannot overflow; Adam's bias corrections, `pow(β, Double(step))`, take them
    /// exactly. Saving writes larger counts too, so that no loaded count makes a later save
    /// stop; training reaches them only by counting on from a loaded count near 2⁵³, and
    /// loading refuses the file.
    static let readableCounts: ClosedRange<Int64> = 0...(1 << 53)
}
