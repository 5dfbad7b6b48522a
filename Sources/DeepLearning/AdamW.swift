/// AdamW, exactly PyTorch's `torch.optim.AdamW`: ``Adam`` with weight decay decoupled from
/// the gradient, applied to the parameter before the update. For each parameter p with
/// gradient g, first and second moments m and v and the largest second moment so far v_max
/// (all zero at the start), at step t = 1, 2, …:
///
///     g = −g                                (maximize)
///     p = p · (1 − learningRate · weightDecay)
///     m = β₁ · m + (1 − β₁) · g
///     v = β₂ · v + (1 − β₂) · g²
///     v_max = max(v_max, v)                 (amsgrad, which then uses v_max for v below)
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
///     p = p − learningRate · m̂ / (√v̂ + eps)
///
/// As in ``Adam``, t counts each parameter's steps, and a parameter without a gradient (none
/// since `zeroGrad()`) is left out of the step, its decay included. Each step is one C kernel
/// pass per parameter tensor, the same kernel as Adam's, rounded as PyTorch's CPU step as
/// ``Adam``'s; as Adam's, a `Linear` layer's weight may take its step in the product that
/// computes its gradient instead (`Model.fit` says when), with the same result.
///
/// ```swift
/// let optimizer = AdamW(parameters: model.parameters)   // lr 1e-3, weight decay 1e-2
/// ```
public final class AdamW: Optimizer, StepsInProduct {
    /// The Adam optimizer that runs with decoupled weight decay.
    private let adam: Adam

    /// PyTorch's arguments and defaults, in its order.
    public init(parameters: [Tensor], learningRate: Float = 1e-3,
                betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                weightDecay: Float = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        adam = Adam(parameters: parameters, learningRate: learningRate, betas: betas, eps: eps,
                    weightDecay: weightDecay, amsgrad: amsgrad, maximize: maximize,
                    decoupledWeightDecay: true, name: "AdamW")
    }

    public var parameters: [Tensor] { adam.parameters }
    /// The step size, finite and not negative: setting a negative, NaN or infinite value stops
    /// with a message.
    public var learningRate: Float {
        get { adam.learningRate }
        set { adam.learningRate = newValue }
    }
    /// (β₁, β₂): the decay rates of the first and second moments, each in [0, 1).
    public var betas: (Float, Float) { adam.betas }
    /// Added to √v̂ in the denominator, for numerical stability; finite and not negative
    /// (PyTorch accepts an infinite eps; here it stops with a message, as ``Adam``'s).
    public var eps: Float { adam.eps }
    /// The decoupled decay: each step first scales the parameters by `1 − learningRate ·
    /// weightDecay`; finite and not negative (PyTorch accepts an infinite one; here it stops
    /// with a message, as ``Adam``'s).
    public var weightDecay: Float { adam.weightDecay }
    /// Whether the denominator uses the largest second moment so far (AMSGrad), as ``Adam``'s.
    public var amsgrad: Bool { adam.amsgrad }
    /// Whether the steps go up the gradient, as ``Adam``'s.
    public var maximize: Bool { adam.maximize }

    public func step() { adam.step() }

    /// `StepsInProduct`'s, as ``Adam``'s.
    func stepInProduct(of parameter: Tensor, _ product: (ProductStep) -> Bool) -> Bool {
        adam.stepInProduct(of: parameter, product)
    }

    /// "AdamW", its settings, moments and each parameter's steps, as ``Adam``'s.
    public var checkpointContents: CheckpointContents { adam.checkpointContents }
}
