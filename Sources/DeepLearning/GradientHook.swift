/// A closure that `Tensor.onGradientAccumulated(_:)` added to a leaf, kept by the leaf in
/// the order added. A class, so that its handle can find it by identity.
final class GradientHook {
    let body: (Tensor) -> Void

    init(_ body: @escaping (Tensor) -> Void) { self.body = body }
}

/// What `Tensor.onGradientAccumulated(_:)` returns: `remove()` takes that hook off its leaf.
/// PyTorch's `RemovableHandle`.
///
/// ```swift
/// let handle = weight.onGradientAccumulated { print("dW ready:", $0.gradients) }
/// handle.remove()   // later backward passes no longer call it
/// ```
public struct GradientHookHandle {
    /// Weak: a handle kept does not keep its leaf alive.
    private weak var leaf: Tensor?
    private let hook: GradientHook

    init(leaf: Tensor, hook: GradientHook) {
        self.leaf = leaf
        self.hook = hook
    }

    /// Takes the hook off its leaf: from the next time the leaf's hooks run (a hook that
    /// removes another during a pass leaves that pass's call of it as it was), the others
    /// still in their order. Removing it again, or after the leaf is gone, does nothing. A
    /// `Linear`'s weight left without hooks takes its steps in its gradient's product again.
    public func remove() {
        leaf?.gradientHooks.removeAll { $0 === hook }
    }
}
