import DeepLearning

/// The spiral example's network and settings (Examples/'s `SpiralExperiment`), shared by
/// `mpi-train` and the scenarios the tests launch: 3 × 100 points, Linear(2, 100) → ReLU →
/// Linear(100, 3), SGD with learning rate 0.1, momentum 0.9 and weight decay 0.001, global
/// batch 20, He-initialized weights.
public struct SpiralNetwork: Sendable {
    public var pointsPerClass = 100
    public var classes = 3
    public var hiddenUnits = 100
    public var learningRate: Float = 0.1
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0.001
    /// Seeds the data (seed), the initial weights (seed + 1) and the shuffling (seed + 2).
    public var seed: UInt64 = 0

    public init() {}

    /// The spiral's points `[samples, 2]` and their classes.
    public func data() -> (inputs: Tensor, labels: [Int32]) {
        spiral(pointsPerClass: pointsPerClass, classes: classes, seed: seed)
    }

    /// The network, initialized from seed + 1.
    public func model() -> Model {
        let model = Model {
            Linear(2, hiddenUnits)
            ReLU()
            Linear(hiddenUnits, classes)
        }
        model.initializeParameters(seed: seed &+ 1)
        return model
    }

    /// SGD with these settings over `parameters`.
    public func optimizer(for parameters: [Tensor]) -> SGD {
        SGD(parameters: parameters, learningRate: learningRate, momentum: momentum,
            weightDecay: weightDecay)
    }
}
