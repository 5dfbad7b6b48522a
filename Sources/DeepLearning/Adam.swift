import CKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Adam, exactly PyTorch's `torch.optim.Adam`. Weight decay is L2: added to the gradient
/// before the moments (for decay decoupled from the gradient, use ``AdamW``). For each
/// parameter p with gradient g, first and second moments m and v and the largest second
/// moment so far v_max (all zero at the start), at step t = 1, 2, …:
///
///     g = −g                                (maximize)
///     g = g + weightDecay · p
///     m = β₁ · m + (1 − β₁) · g
///     v = β₂ · v + (1 − β₂) · g²
///     v_max = max(v_max, v)                 (amsgrad, which then uses v_max for v below)
///     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
///     p = p − learningRate · m̂ / (√v̂ + eps)
///
/// t counts the steps of each parameter: a parameter without a gradient (none since
/// `zeroGrad()`: no backward pass reached it) is left out of the step, its moments and t
/// unchanged, as PyTorch's `state['step']` per parameter. It rounds as PyTorch's CPU step, with
/// the same bits wherever PyTorch's square root is correctly rounded (`ck_adam` in CKernels
/// says how; the maximum and the negation are exact). Each step is one C kernel pass per
/// parameter tensor. In `Model.fit`, a `Linear` layer's weight may take its step in the
/// product that computes its gradient instead (`Model.fit` says when), with the same result.
///
/// ```swift
/// let optimizer = Adam(parameters: model.parameters)            // lr 1e-3, betas (0.9, 0.999)
/// let tuned = Adam(parameters: model.parameters, learningRate: 3e-4, weightDecay: 1e-4,
///                  amsgrad: true)
/// ```
public final class Adam: Optimizer, StepsInProduct {
    public let parameters: [Tensor]
    /// The step size, finite and not negative: setting a negative, NaN or infinite value stops
    /// with a message.
    public var learningRate: Float {
        didSet { requireFiniteSetting(.learningRate, learningRate, name) }
    }
    /// (β₁, β₂): the decay rates of the first and second moments, each in [0, 1).
    public let betas: (Float, Float)
    /// Added to √v̂ in the denominator, for numerical stability; finite and not negative.
    /// PyTorch accepts an infinite eps; here it stops with a message, as no parameter would
    /// change.
    public let eps: Float
    /// The L2 coefficient added to the gradient (`weightDecay · p`); 0 for none. Finite and
    /// not negative (PyTorch accepts an infinite one; here it stops with a message).
    public let weightDecay: Float
    /// Whether the denominator uses the largest second moment so far, v_max, rather than v
    /// (AMSGrad; default false).
    public let amsgrad: Bool
    /// Whether the steps go up the gradient, maximizing the objective: g is negated first
    /// (default false).
    public let maximize: Bool
    /// Whether weight decay scales the parameters (AdamW) rather than adding to the gradient.
    let decoupledWeightDecay: Bool
    /// "Adam" or "AdamW": the kind its checkpoints name and its messages start with.
    private let name: String
    /// m and v for each parameter, same shapes, allocated once; v_max too with amsgrad (none
    /// without, as in PyTorch).
    private let firstMoments: [Tensor]
    private let secondMoments: [Tensor]
    private let maxSecondMoments: [Tensor]
    /// t of each parameter, the steps it took.
    private let steps: [Counter]
    /// The parameters updated this step in the products of their gradients
    /// (`stepInProduct(of:_:)`), which `step()` leaves out.
    @exclusivity(unchecked) private var inProducts: ParametersSteppedInProducts

    /// PyTorch's arguments and defaults, in its order.
    public convenience init(parameters: [Tensor], learningRate: Float = 1e-3,
                            betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                            weightDecay: Float = 0, amsgrad: Bool = false,
                            maximize: Bool = false) {
        self.init(parameters: parameters, learningRate: learningRate, betas: betas, eps: eps,
                  weightDecay: weightDecay, amsgrad: amsgrad, maximize: maximize,
                  decoupledWeightDecay: false, name: "Adam")
    }

    /// Adam, or AdamW's rule when `decoupledWeightDecay`; `name` prefixes the messages of
    /// PyTorch's checks of the hyper-parameters.
    init(parameters: [Tensor], learningRate: Float, betas: (Float, Float), eps: Float,
         weightDecay: Float, amsgrad: Bool, maximize: Bool, decoupledWeightDecay: Bool,
         name: String) {
        requireFiniteSetting(.learningRate, learningRate, name)
        requireFiniteSetting(.eps, eps, name)
        requireSetting(betas.0, in: 0..<1, name, "betas.0", mustBe: "in [0, 1)")
        requireSetting(betas.1, in: 0..<1, name, "betas.1", mustBe: "in [0, 1)")
        requireFiniteSetting(.weightDecay, weightDecay, name)
        requireDistinct(parameters, name)
        self.parameters = parameters
        self.learningRate = learningRate
        self.betas = betas
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.decoupledWeightDecay = decoupledWeightDecay
        self.name = name
        let buffers = { parameters.map { Tensor(shape: $0.shape) } }
        firstMoments = buffers()
        secondMoments = buffers()
        maxSecondMoments = amsgrad ? buffers() : []
        steps = parameters.map { _ in Counter() }
        inProducts = ParametersSteppedInProducts(parameters)
    }

    /// 1 − β₁ᵗ and 1 − β₂ᵗ, in Double as PyTorch computes them (`beta ** step`); the kernel
    /// rounds to Float only what it derives from them, as PyTorch does.
    private func biasCorrections(atStep t: Int64) -> (Double, Double) {
        (1 - pow(Double(betas.0), Double(t)), 1 - pow(Double(betas.1), Double(t)))
    }

    public func step() {
        for (index, parameter) in parameters.enumerated() {
            let steppedInProduct = inProducts.takeStepped(index)
            guard steppedInProduct || parameter.hasGradient else { continue }
            steps[index].value += 1
            if !steppedInProduct {
                let (correction1, correction2) = biasCorrections(atStep: steps[index].value)
                ck_adam(Int64(parameter.count), parameter.value, parameter.gradientPointer,
                        firstMoments[index].value, secondMoments[index].value,
                        amsgrad ? maxSecondMoments[index].value : nil, learningRate, betas.0,
                        betas.1, eps, weightDecay, maximize ? 1 : 0,
                        decoupledWeightDecay ? 1 : 0, correction1, correction2)
            }
            parameter.countInPlaceWrite()
        }
    }

    /// `StepsInProduct`'s: the product takes `ck_adam`'s step (`ProductStep.adam`), with the
    /// bias corrections of the step `step()` is about to take.
    func stepInProduct(of parameter: Tensor, _ product: (ProductStep) -> Bool) -> Bool {
        guard let index = inProducts.pendingIndex(of: parameter) else { return false }
        inProducts.record(index, stepped: product(.adam(
            firstMoment: firstMoments[index].value, secondMoment: secondMoments[index].value,
            maxSecondMoment: amsgrad ? maxSecondMoments[index].value : nil,
            learningRate: learningRate, betas: betas, eps: eps, weightDecay: weightDecay,
            maximize: maximize ? 1 : 0, decoupledWeightDecay: decoupledWeightDecay ? 1 : 0,
            corrections: biasCorrections(atStep: steps[index].value + 1))))
        return true
    }

    /// "Adam" (or "AdamW"), its settings (`amsgrad` and `maximize` only when on,
    /// `settingsWhenOn`), the moments ("exp_avg.0", "exp_avg_sq.0", ..., and with amsgrad
    /// "max_exp_avg_sq.0", ...; the second ones and their maxima never negative) and the steps
    /// each parameter took ("step.0", ...), under PyTorch's names.
    public var checkpointContents: CheckpointContents {
        let squares = perParameter("exp_avg_sq", secondMoments)
            + perParameter("max_exp_avg_sq", maxSecondMoments)
        return CheckpointContents(
            kind: name,
            settings: [("beta1", "\(betas.0)"), ("beta2", "\(betas.1)"), ("eps", "\(eps)"),
                       ("weight_decay", "\(weightDecay)")]
                + settingsWhenOn([("amsgrad", amsgrad), ("maximize", maximize)]),
            tensors: perParameter("exp_avg", firstMoments) + squares,
            nonNegativeTensors: Set(squares.map(\.name)),
            counters: perParameter("step", steps))
    }
}
