import CKernels

// An output gradient handed to a backward pass can be a buffer that pass adds into: a leaf's
// gradient given to `backward(_:)` of a graph that reaches the leaf, or a layer's own weight
// gradient given to the layer's `backward(_:)`. The pass then reads a copy, so that it sees
// the values it was called with, as PyTorch does (it computes each gradient into a new tensor
// before adding it to `.grad`).

extension Tensor {
    /// A new tensor of this shape holding a copy of the values (no gradient, no graph).
    func valueCopy() -> Tensor {
        let copy = Tensor(uninitializedShape: shape)
        ck_scaled_add(Int64(count), 1, value, 0, copy.value)
        return copy
    }

    /// This output gradient, or a copy of it when it is `weight`'s or `bias`'s gradient
    /// buffer, which a layer's backward pass adds into while it reads the output gradient.
    func separated(fromGradientsOf weight: Tensor, _ bias: Tensor) -> Tensor {
        weight.hasGradient(in: storage) || bias.hasGradient(in: storage) ? valueCopy() : self
    }
}
