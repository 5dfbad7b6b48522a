import DeepLearning
import SpiralExperiment

/// The spiral experiment's parts, made as `SpiralExperiment.run` makes them, for training
/// them data-parallel: its data and its optimizer (its initialized network is
/// `SpiralExperiment.initializedModel()`).
///
/// ```swift
/// let experiment = SpiralExperiment()
/// let model = experiment.initializedModel()
/// let optimizer = experiment.optimizer(for: model.parameters)
/// ```
extension SpiralExperiment {
    /// The spiral's points `[samples, 2]` and their classes, drawn from `seed`.
    public func data() -> (inputs: Tensor, labels: [Int32]) {
        spiral(pointsPerClass: pointsPerClass, classes: classes, seed: seed)
    }

    /// SGD with the experiment's settings over `parameters`.
    public func optimizer(for parameters: [Tensor]) -> SGD {
        SGD(parameters: parameters, learningRate: learningRate, momentum: momentum,
            weightDecay: weightDecay)
    }

    /// The seed of the shuffling: seed + 2.
    public var shuffleSeed: UInt64 { seed &+ 2 }
}
