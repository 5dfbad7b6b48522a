import DeepLearning

/// The article's experiment: a one-hidden-layer network learning the 3-class spiral.
///
/// The defaults are the `spiral` example's: 3 × 100 points, Linear(2, 100) → ReLU →
/// Linear(100, 3), softmax cross-entropy, batch 20, 200 epochs, SGD with learning rate 0.1,
/// momentum 0.9 and weight decay 0.001, He-initialized weights and zero biases.
/// `.article` initialization with learning rate 1 and momentum 0 reproduces the article's own
/// settings (its SGD never kept its momentum buffer, so it ran plain SGD).
public struct SpiralExperiment: Sendable {
    /// How the weights are drawn (biases start at zero either way).
    public enum WeightInitialization: String, Sendable, CaseIterable {
        /// He/Kaiming normal, N(0, 2 / fanIn).
        case he
        /// The article's N(0, 0.01²).
        case article
        /// Glorot/Xavier uniform.
        case glorot

        var initializer: Initializer {
            switch self {
            case .he: .heNormal
            case .article: .normal(std: 0.01)
            case .glorot: .glorotUniform
            }
        }
    }

    public var pointsPerClass = 100
    public var classes = 3
    public var hiddenUnits = 100
    public var epochs = 200
    public var batchSize = 20
    public var learningRate: Float = 0.1
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0.001
    public var weightInitialization = WeightInitialization.he
    /// Seeds the data, the initial weights and the shuffling.
    public var seed: UInt64 = 0

    public init() {}

    /// The trained model, its data, and the mean loss of each epoch.
    public struct Result {
        public let model: Model
        public let inputs: Tensor
        public let labels: [Int32]
        public let lossHistory: [Float]
    }

    /// The network, its weights drawn by `weightInitialization` from seed + 1.
    public func initializedModel() -> Model {
        let initializer = weightInitialization.initializer
        let model = Model {
            Linear(2, hiddenUnits, weightInitializer: initializer)
            ReLU()
            Linear(hiddenUnits, classes, weightInitializer: initializer)
        }
        model.initializeParameters(seed: seed &+ 1)
        return model
    }

    /// Generates the data, builds the network and trains it.
    public func run(progress: ((TrainingProgress) -> Void)? = nil) throws -> Result {
        let (inputs, labels) = spiral(pointsPerClass: pointsPerClass, classes: classes,
                                      seed: seed)
        let model = initializedModel()
        let optimizer = SGD(parameters: model.parameters, learningRate: learningRate,
                            momentum: momentum, weightDecay: weightDecay)
        let history = try model.fit(inputs, labels: labels, optimizer: optimizer,
                                    epochs: epochs, batchSize: batchSize, seed: seed &+ 2,
                                    progress: progress)
        return Result(model: model, inputs: inputs, labels: labels, lossHistory: history)
    }
}
