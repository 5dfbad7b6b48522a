import DeepLearning
import ExampleOptions

/// The article's experiment: a one-hidden-layer network learning the 3-class spiral.
///
/// The defaults are the `spiral` example's: 3 × 100 points, Linear(2, 100) → ReLU →
/// Linear(100, 3), softmax cross-entropy, batch 20, 200 epochs, SGD with learning rate 0.1,
/// momentum 0.9 and weight decay 0.001, He-initialized weights and zero biases.
/// `.article` initialization with learning rate 1 and momentum 0 reproduces the article's own
/// settings (its SGD never kept its momentum buffer, so it ran plain SGD).
public struct SpiralExperiment: TrainingSettings, Sendable {
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

    /// The points of each arm of the spiral.
    public var pointsPerClass = 100
    /// The arms of the spiral: the classes the network tells apart.
    public var classes = 3
    /// The width of the hidden layer.
    public var hiddenUnits = 100
    /// The passes over the data.
    public var epochs = 200
    /// The samples of a mini-batch.
    public var batchSize = 20
    /// SGD's step size.
    public var learningRate: Float = 0.1
    /// SGD's momentum (0: plain SGD).
    public var momentum: Float = 0.9
    /// SGD's weight decay (the L2 factor).
    public var weightDecay: Float = 0.001
    /// How the weights are drawn.
    public var weightInitialization = WeightInitialization.he
    /// Seeds the data, the initial weights and the shuffling.
    public var seed: UInt64 = 0

    /// The `spiral` example's experiment: the defaults above.
    public init() {}

    /// The trained model, its data, and the mean loss of each epoch.
    public struct Result {
        /// The trained network.
        public let model: Model
        /// The spiral's points, `[samples, 2]`.
        public let inputs: Tensor
        /// The class of each point.
        public let labels: [Int32]
        /// The mean loss of each epoch.
        public let lossHistory: [Float]
    }

    /// The most hidden units the examples accept (more would overflow the shapes long before
    /// they fit in memory).
    public static let maximumHiddenUnits = 100_000

    /// Throws `InvalidOption`, naming the `spiral` example's option, when a setting is outside
    /// the range the examples accept: epochs in 1...`maximumEpochs`, a batch size of at least
    /// 1, hidden units in 1...`maximumHiddenUnits`, a positive learning rate, momentum and
    /// weight decay finite and at least 0.
    public func validate() throws {
        try checkTrainingSettings()
        try checkOption("--hidden-units", hiddenUnits, in: 1...Self.maximumHiddenUnits)
        try checkOption("--momentum", momentum, nonNegative: true)
        try checkOption("--weight-decay", weightDecay, nonNegative: true)
    }

    /// The spiral's points `[samples, 2]` and their classes, drawn from `seed`.
    public func data() -> (inputs: Tensor, labels: [Int32]) {
        spiral(pointsPerClass: pointsPerClass, classes: classes, seed: seed)
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

    /// SGD with the experiment's learning rate, momentum and weight decay over `parameters`.
    public func optimizer(for parameters: [Tensor]) -> SGD {
        SGD(parameters: parameters, learningRate: learningRate, momentum: momentum,
            weightDecay: weightDecay)
    }

    /// The seed of the shuffling: seed + 2.
    public var shuffleSeed: UInt64 { seed &+ 2 }

    /// Generates the data, builds the network and trains it.
    public func run(progress: ((TrainingProgress) -> Void)? = nil) throws -> Result {
        let (inputs, labels) = data()
        let model = initializedModel()
        let history = try model.fit(inputs, labels: labels,
                                    optimizer: optimizer(for: model.parameters),
                                    epochs: epochs, batchSize: batchSize, seed: shuffleSeed,
                                    progress: progress)
        return Result(model: model, inputs: inputs, labels: labels, lossHistory: history)
    }
}
