import CKernels

/// Stochastic gradient descent with momentum and weight decay, exactly PyTorch's
/// `torch.optim.SGD` with dampening 0 and no Nesterov. For each parameter p with gradient g and
/// velocity v (zero at the start):
///
///     v = momentum · v + (g + weightDecay · p)
///     p = p − learningRate · v
///
/// Each step is one C kernel pass per parameter tensor.
///
/// ```swift
/// let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9,
///                     weightDecay: 0.001)
/// ```
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    /// One velocity buffer per parameter, same shape.
    private let velocities: [Tensor]

    public init(parameters: [Tensor], learningRate: Float, momentum: Float = 0,
                weightDecay: Float = 0) {
        require(learningRate >= 0, "SGD: learning rate \(learningRate) must not be negative")
        require(momentum >= 0, "SGD: momentum \(momentum) must not be negative")
        require(weightDecay >= 0, "SGD: weight decay \(weightDecay) must not be negative")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocities = parameters.map { Tensor(shape: $0.shape) }
    }

    public func step() {
        for (parameter, velocity) in zip(parameters, velocities) {
            ck_sgd_momentum(Int64(parameter.count), parameter.value, parameter.gradient,
                            velocity.value, learningRate, momentum, weightDecay)
        }
    }
}
