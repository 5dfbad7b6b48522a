/// The tensors that `Model.load(from:strict:)` with `strict: false` found in only one of the
/// model and the file, as PyTorch's `load_state_dict(strict=False)` returns them
/// (`missing_keys`, `unexpected_keys`). A strict load throws instead, and returns both empty.
///
/// ```swift
/// let unmatched = try model.load(from: "pretrained.safetensors", strict: false)
/// if !unmatched.missing.isEmpty { print("left as drawn:", unmatched.missing) }
/// ```
public struct UnmatchedTensors: Equatable, Sendable {
    /// The model's tensors the file lacks, left as they were, in the model's order.
    public let missing: [String]
    /// The file's tensors the model has none of that name for, not read, sorted.
    public let unexpected: [String]
}
