import CKernels

/// RMSProp, exactly PyTorch's `torch.optim.RMSprop`. For each parameter p with gradient g and
/// running averages v (of g²) and ḡ (of g), all zero at the start:
///
///     g = −g                                      (maximize)
///     g = g + weightDecay · p
///     v = α · v + (1 − α) · g²
///     centered:      ḡ = α · ḡ + (1 − α) · g,   d = √(v − ḡ²) + eps
///     not centered:  d = √v + eps
///     momentum > 0:  b = momentum · b + g / d,  p = p − learningRate · b
///     momentum 0:    p = p − learningRate · g / d
///
/// A parameter without a gradient (none since `zeroGrad()`: no backward pass reached it) is
/// left out of the step, its buffers unchanged, as in PyTorch. It rounds as PyTorch's CPU
/// step, with the same bits wherever PyTorch's square root is correctly rounded (`ck_rmsprop`
/// in CKernels says how). Each step is one C kernel pass per parameter tensor. The buffers
/// for ḡ and b exist only when centered or with momentum.
/// In `Model.fit`, a `Linear` layer's weight may take its step in the product that computes
/// its gradient instead (`Model.fit` says when), with the same result.
///
/// ```swift
/// let optimizer = RMSProp(parameters: model.parameters)          // lr 1e-2, alpha 0.99
/// let centered = RMSProp(parameters: model.parameters, momentum: 0.9, centered: true)
/// ```
public final class RMSProp: Optimizer, StepsInProduct {
    public let parameters: [Tensor]
    /// The step size, finite and not negative: setting a negative, NaN or infinite value stops
    /// with a message.
    public var learningRate: Float {
        didSet { requireFiniteSetting(.learningRate, learningRate, "RMSProp") }
    }
    /// The smoothing constant α of the running averages, in [0, 1] (default 0.99); a value
    /// outside, or NaN, stops with a message.
    public let alpha: Float
    /// Added to the denominator, for numerical stability (default 1e-8); finite and not
    /// negative. PyTorch accepts an infinite eps; here it stops with a message, as no parameter
    /// would change.
    public let eps: Float
    /// The L2 coefficient added to the gradient (`weightDecay · p`; default 0), finite and
    /// not negative (PyTorch accepts an infinite one; here it stops with a message).
    public let weightDecay: Float
    /// The momentum of the update buffer b, finite and not negative; 0 (the default) for
    /// none. PyTorch accepts an infinite momentum; here it stops with a message.
    public let momentum: Float
    /// Whether the denominator uses the variance estimate v − ḡ² rather than v (default false).
    public let centered: Bool
    /// Whether the steps go up the gradient, maximizing the objective: g is negated first
    /// (default false).
    public let maximize: Bool
    /// Per parameter, same shapes, allocated once: v always, ḡ when centered, b with momentum.
    private let squareAverages: [Tensor]
    private let gradientAverages: [Tensor]?
    private let momentumBuffers: [Tensor]?
    /// The parameters updated this step in the products of their gradients
    /// (`stepInProduct(of:_:)`), which `step()` leaves out.
    @exclusivity(unchecked) private var inProducts: ParametersSteppedInProducts

    /// PyTorch's arguments and defaults.
    public init(parameters: [Tensor], learningRate: Float = 1e-2, alpha: Float = 0.99,
                eps: Float = 1e-8, weightDecay: Float = 0, momentum: Float = 0,
                centered: Bool = false, maximize: Bool = false) {
        requireFiniteSetting(.learningRate, learningRate, "RMSProp")
        requireFiniteSetting(.eps, eps, "RMSProp")
        requireFiniteSetting(.momentum, momentum, "RMSProp")
        requireFiniteSetting(.weightDecay, weightDecay, "RMSProp")
        // PyTorch checks only α ≥ 0; above 1, v = α·v + (1 − α)·g² turns negative and √v NaN.
        requireSetting(alpha, in: 0...1, "RMSProp", "alpha", mustBe: "in [0, 1]",
                       outside: "outside it the running average of g² can turn negative")
        requireDistinct(parameters, "RMSProp")
        self.parameters = parameters
        self.learningRate = learningRate
        self.alpha = alpha
        self.eps = eps
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.centered = centered
        self.maximize = maximize
        let buffers = { parameters.map { Tensor(shape: $0.shape) } }
        squareAverages = buffers()
        gradientAverages = centered ? buffers() : nil
        momentumBuffers = momentum > 0 ? buffers() : nil
        inProducts = ParametersSteppedInProducts(parameters)
    }

    public func step() {
        for (index, parameter) in parameters.enumerated() {
            let steppedInProduct = inProducts.takeStepped(index)
            guard steppedInProduct || parameter.hasGradient else { continue }
            if !steppedInProduct {
                ck_rmsprop(Int64(parameter.count), parameter.value, parameter.gradientPointer,
                           squareAverages[index].value, gradientAverages?[index].value,
                           momentumBuffers?[index].value, learningRate, alpha, eps, weightDecay,
                           momentum, maximize ? 1 : 0)
            }
            parameter.countInPlaceWrite()
        }
    }

    /// `StepsInProduct`'s: the product takes `ck_rmsprop`'s step (`ProductStep.rmsProp`).
    func stepInProduct(of parameter: Tensor, _ product: (ProductStep) -> Bool) -> Bool {
        guard let index = inProducts.pendingIndex(of: parameter) else { return false }
        inProducts.record(index, stepped: product(.rmsProp(
            squareAverage: squareAverages[index].value,
            gradientAverage: gradientAverages?[index].value,
            momentumBuffer: momentumBuffers?[index].value, learningRate: learningRate,
            alpha: alpha, eps: eps, weightDecay: weightDecay, momentum: momentum,
            maximize: maximize ? 1 : 0)))
        return true
    }

    /// "RMSProp", its settings (`maximize` only when on, `settingsWhenOn`) and its running
    /// averages under PyTorch's names:
    /// "square_avg.0", ... (never negative), "grad_avg.0", ... when centered,
    /// "momentum_buffer.0", ... with momentum. (Its update does not depend on the step count,
    /// so it keeps none.)
    public var checkpointContents: CheckpointContents {
        let squares = perParameter("square_avg", squareAverages)
        return CheckpointContents(
            kind: "RMSProp",
            settings: [("alpha", "\(alpha)"), ("eps", "\(eps)"), ("weight_decay", "\(weightDecay)"),
                       ("momentum", "\(momentum)"), ("centered", "\(centered)")]
                + settingsWhenOn([("maximize", maximize)]),
            tensors: squares + perParameter("grad_avg", gradientAverages ?? [])
                + perParameter("momentum_buffer", momentumBuffers ?? []),
            nonNegativeTensors: Set(squares.map(\.name)))
    }
}
