#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Changes an optimizer's learning rate from epoch to epoch, as PyTorch's
/// `torch.optim.lr_scheduler`: `step()` is called once after every epoch, by `Model.fit` when
/// the schedule is passed to it (which also lets its training checkpoints save the schedule's
/// epoch), or by a hand-written training loop. The rate of epoch e (from 0) is
/// `learningRate(atEpoch:)` of the rate the optimizer had when the schedule was made.
///
/// ```swift
/// let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
/// let schedule = CosineAnnealing(optimizer: optimizer, epochs: 100)
/// try model.fit(x, labels: y, optimizer: optimizer, schedule: schedule, epochs: 100,
///               batchSize: 32)
/// ```
public protocol LearningRateSchedule: AnyObject {
    /// The optimizer whose rate it sets.
    var optimizer: any Optimizer { get }
    /// The learning rate for epoch `epoch` (from 0; the library's schedules stop with a
    /// message on a negative one).
    func learningRate(atEpoch epoch: Int) -> Float
    /// Epochs finished so far.
    var epoch: Int { get set }
    /// Its kind and settings, and any state of its own beyond `epoch` (buffers, counters),
    /// for training checkpoints, which save and restore that state and `epoch`.
    var checkpointContents: CheckpointContents { get }
}

extension LearningRateSchedule {
    /// Ends an epoch: sets the optimizer's rate for the next one. Stops with a message naming
    /// the schedule and the epoch when that rate is not a finite number of at least 0 (a
    /// `StepDecay` whose gamma above 1 has grown the rate past the largest float, or a
    /// schedule of your own).
    public func step() {
        epoch += 1
        let rate = learningRate(atEpoch: epoch)
        require(rate.isFinite && rate >= 0,
                "\(type(of: self)).step: the learning rate for epoch \(epoch) is \(rate); a schedule's rates must be finite and not negative")
        optimizer.learningRate = rate
    }
}

/// Stops with a message naming `method` when `schedule` sets the rate of another optimizer
/// than `optimizer`.
func requireSchedule(_ schedule: (any LearningRateSchedule)?, setting optimizer: any Optimizer,
                     in method: String) {
    guard let schedule else { return }
    require(schedule.optimizer === optimizer,
            "\(method): the schedule \(type(of: schedule)) sets the learning rate of another optimizer than the \(type(of: optimizer)) given")
}

/// Stops with a message naming `schedule` when `epoch` is negative: a rate before the first
/// epoch would be made up (a `StepDecay`'s grows, 1/gamma for each step size before 0).
func requireEpoch(_ epoch: Int, of schedule: String) {
    require(epoch >= 0, "\(schedule): epoch \(epoch) must not be negative")
}

/// Step decay (PyTorch's `StepLR`): the initial rate times `gamma` every `stepSize` epochs,
/// `initial · gamma^⌊epoch / stepSize⌋`.
///
/// ```swift
/// let optimizer = SGD(parameters: model.parameters, learningRate: 0.1)
/// let schedule = StepDecay(optimizer: optimizer, stepSize: 30)   // 0.1, 0.01 from epoch 30, ...
/// ```
public final class StepDecay: LearningRateSchedule {
    public let optimizer: any Optimizer
    /// The optimizer's learning rate when the schedule was made: the rate of epoch 0.
    public let initialLearningRate: Float
    /// The number of epochs between two decays, at least 1.
    public let stepSize: Int
    /// The factor of each decay (default 0.1), finite and not negative.
    public let gamma: Float
    public var epoch = 0

    /// A schedule that multiplies `optimizer`'s current learning rate by `gamma` every
    /// `stepSize` epochs. Stops with a message when `stepSize` is below 1 or `gamma` is
    /// negative, NaN or infinite (the rates would be too).
    public init(optimizer: any Optimizer, stepSize: Int, gamma: Float = 0.1) {
        require(stepSize >= 1, "StepDecay: step size \(stepSize) must be at least 1")
        requireNotNegative(gamma, "StepDecay", "gamma")
        require(gamma.isFinite,
                "StepDecay: gamma \(gamma) must be finite (the rates would be infinite)")
        self.optimizer = optimizer
        initialLearningRate = optimizer.learningRate
        self.stepSize = stepSize
        self.gamma = gamma
    }

    public func learningRate(atEpoch epoch: Int) -> Float {
        requireEpoch(epoch, of: "StepDecay")
        return initialLearningRate * Float(pow(Double(gamma), Double(epoch / stepSize)))
    }

    /// "StepDecay" and its settings.
    public var checkpointContents: CheckpointContents {
        CheckpointContents(kind: "StepDecay",
                           settings: [("initial_learning_rate", "\(initialLearningRate)"),
                                      ("step_size", "\(stepSize)"), ("gamma", "\(gamma)")])
    }
}

/// Cosine annealing (PyTorch's `CosineAnnealingLR`, its closed form): from the initial rate
/// down to `minimum` over `epochs` epochs along half a cosine,
/// `minimum + (initial − minimum) · (1 + cos(π · epoch / epochs)) / 2`.
///
/// ```swift
/// let optimizer = Adam(parameters: model.parameters, learningRate: 1e-3)
/// let schedule = CosineAnnealing(optimizer: optimizer, epochs: 50, minimum: 1e-5)
/// schedule.learningRate(atEpoch: 25)   // 5.05e-4, halfway down
/// ```
public final class CosineAnnealing: LearningRateSchedule {
    public let optimizer: any Optimizer
    /// The optimizer's learning rate when the schedule was made: the rate of epoch 0.
    public let initialLearningRate: Float
    /// The epochs over which the rate falls to `minimum` (at least 1); after them it rises
    /// again along the cosine, as PyTorch's closed form does.
    public let epochs: Int
    /// The rate at epoch `epochs` (default 0), finite and not negative.
    public let minimum: Float
    public var epoch = 0

    /// A schedule from `optimizer`'s current learning rate down to `minimum` over `epochs`
    /// epochs. Stops with a message when `epochs` is below 1 or `minimum` is negative, NaN or
    /// infinite (the rates would be too).
    public init(optimizer: any Optimizer, epochs: Int, minimum: Float = 0) {
        require(epochs >= 1, "CosineAnnealing: epochs \(epochs) must be at least 1")
        require(minimum >= 0 && minimum.isFinite,
                "CosineAnnealing: minimum \(minimum) must be finite and not negative")
        self.optimizer = optimizer
        initialLearningRate = optimizer.learningRate
        self.epochs = epochs
        self.minimum = minimum
    }

    public func learningRate(atEpoch epoch: Int) -> Float {
        requireEpoch(epoch, of: "CosineAnnealing")
        let cosine = (1 + cos(Double.pi * Double(epoch) / Double(epochs))) / 2
        return minimum + (initialLearningRate - minimum) * Float(cosine)
    }

    /// "CosineAnnealing" and its settings.
    public var checkpointContents: CheckpointContents {
        CheckpointContents(kind: "CosineAnnealing",
                           settings: [("initial_learning_rate", "\(initialLearningRate)"),
                                      ("epochs", "\(epochs)"), ("minimum", "\(minimum)")])
    }
}
