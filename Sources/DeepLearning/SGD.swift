import CKernels

/// Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay,
/// exactly PyTorch's `torch.optim.SGD`. For each parameter p with gradient g and momentum
/// buffer b:
///
///     g = −g                                       (maximize)
///     g = g + weightDecay · p
///     b = g                                        (first step)
///     b = momentum · b + (1 − dampening) · g       (later steps)
///     p = p − learningRate · (nesterov ? g + momentum · b : b)
///
/// With momentum 0 the update is plain SGD, p −= learningRate · g. Nesterov momentum needs
/// a momentum above 0 and dampening 0, as in PyTorch. A parameter without a gradient (none
/// since `zeroGrad()`: no backward pass reached it) is left out of the step, its buffer
/// unchanged, and its first step is the first it takes, as PyTorch's buffer per parameter.
/// Each step is one C kernel call over all parameter tensors; in `Model.fit`, a `Linear`
/// layer's weight may take its step in the product that computes its gradient instead
/// (`Model.fit` says when), with the same result.
///
/// ```swift
/// let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9,
///                     weightDecay: 0.001, nesterov: true)
/// ```
public final class SGD: Optimizer, StepsInProduct {
    public let parameters: [Tensor]
    /// The step size, finite and not negative: setting a negative, NaN or infinite value stops
    /// with a message.
    @exclusivity(unchecked) public var learningRate: Float {
        didSet { requireFiniteSetting(.learningRate, learningRate, "SGD") }
    }
    /// The momentum factor, finite and not negative; 0 (the default) for plain SGD, which
    /// keeps no momentum buffer. PyTorch accepts an infinite momentum; here it stops with a
    /// message, as it would make the momentum buffers infinite or NaN.
    public let momentum: Float
    /// The dampening of the gradient added to the momentum buffer after the first step (default
    /// 0): any finite number, as in PyTorch, which accepts NaN and infinity too; here they
    /// stop with a message, as they would make the momentum buffers NaN or infinite.
    public let dampening: Float
    /// The L2 coefficient added to the gradient (`weightDecay · p`; default 0), finite and
    /// not negative (PyTorch accepts an infinite one; here it stops with a message).
    public let weightDecay: Float
    /// Whether the update uses Nesterov momentum, `g + momentum · b` (default false).
    public let nesterov: Bool
    /// Whether the steps go up the gradient, maximizing the objective: g is negated first
    /// (default false).
    public let maximize: Bool
    /// One momentum buffer per parameter, same shape; none without momentum, as in PyTorch.
    private let velocities: [Tensor]
    /// The arguments of the C kernel, one entry per parameter: sizes, value and velocity
    /// buffers (fixed; the velocities nil without momentum), and gradient buffers and
    /// first-step flags (set each step).
    private let sizes: [Int64]
    private let values: [UnsafeMutablePointer<Float>?]
    private let velocityValues: [UnsafeMutablePointer<Float>?]
    @exclusivity(unchecked) private var gradients: [UnsafePointer<Float>?]
    @exclusivity(unchecked) private var firstSteps: [Int32]
    /// The parameters updated this step in the products of their gradients
    /// (`stepInProduct(of:_:)`), which `step()` leaves out.
    @exclusivity(unchecked) private var inProducts: ParametersSteppedInProducts
    /// The sizes the kernel gets in a step: 0 for each parameter `step()` leaves out.
    @exclusivity(unchecked) private var sizesThisStep: [Int64]
    /// The steps each parameter took: PyTorch's first step copies g into the buffer.
    private let steps: [Counter]

    /// PyTorch's arguments, in its order, with its defaults (no default learning rate).
    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0,
                dampening: Float = 0, weightDecay: Float = 0, nesterov: Bool = false,
                maximize: Bool = false) {
        requireFiniteSetting(.learningRate, learningRate, "SGD")
        requireFiniteSetting(.momentum, momentum, "SGD")
        requireFiniteSetting(.weightDecay, weightDecay, "SGD")
        requireFinite(.dampening, dampening, "SGD")
        require(!nesterov || (momentum > 0 && dampening == 0),
                "SGD: Nesterov momentum requires a momentum and zero dampening "
                    + "(momentum \(momentum), dampening \(dampening))")
        requireDistinct(parameters, "SGD")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.maximize = maximize
        velocities = momentum > 0 ? parameters.map { Tensor(shape: $0.shape) } : []
        sizes = parameters.map { Int64($0.count) }
        values = parameters.map(\.value)
        velocityValues = momentum > 0 ? velocities.map(\.value)
                                      : Array(repeating: nil, count: parameters.count)
        gradients = Array(repeating: nil, count: parameters.count)
        firstSteps = Array(repeating: 1, count: parameters.count)
        steps = parameters.map { _ in Counter() }
        sizesThisStep = sizes
        inProducts = ParametersSteppedInProducts(parameters)
    }

    public func step() {
        for (index, parameter) in parameters.enumerated() {
            let steppedInProduct = inProducts.takeStepped(index)
            let stepsInKernel = !steppedInProduct && parameter.hasGradient
            gradients[index] = stepsInKernel ? UnsafePointer(parameter.gradientPointer) : nil
            sizesThisStep[index] = stepsInKernel ? sizes[index] : 0
            firstSteps[index] = steps[index].value == 0 ? 1 : 0
            if steppedInProduct || stepsInKernel {
                parameter.countInPlaceWrite()
                steps[index].value += 1
            }
        }
        ck_sgd_tensors(Int64(parameters.count), sizesThisStep, values, gradients, velocityValues,
                       learningRate, momentum, dampening, weightDecay, nesterov ? 1 : 0,
                       maximize ? 1 : 0, firstSteps)
    }

    /// `StepsInProduct`'s: the product takes `ck_sgd`'s step (`ProductStep.sgd`).
    func stepInProduct(of parameter: Tensor, _ product: (ProductStep) -> Bool) -> Bool {
        guard let index = inProducts.pendingIndex(of: parameter) else { return false }
        inProducts.record(index, stepped: product(.sgd(
            velocity: velocityValues[index], learningRate: learningRate, momentum: momentum,
            dampening: dampening, weightDecay: weightDecay, nesterov: nesterov ? 1 : 0,
            maximize: maximize ? 1 : 0, firstStep: steps[index].value == 0 ? 1 : 0)))
        return true
    }

    /// "SGD", its settings (`maximize` only when on, `settingsWhenOn`), the momentum buffers
    /// ("momentum_buffer.0", ...; none without momentum, as in PyTorch) and the steps each
    /// parameter took ("step.0", ...).
    public var checkpointContents: CheckpointContents {
        CheckpointContents(
            kind: "SGD",
            settings: [("momentum", "\(momentum)"), ("dampening", "\(dampening)"),
                       ("weight_decay", "\(weightDecay)"), ("nesterov", "\(nesterov)")]
                + settingsWhenOn([("maximize", maximize)]),
            tensors: perParameter("momentum_buffer", velocities),
            counters: perParameter("step", steps))
    }
}
