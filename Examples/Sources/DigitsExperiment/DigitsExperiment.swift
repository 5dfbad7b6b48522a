import DeepLearning
import ExampleOptions
import Foundation

/// The `digits` example's experiment: a small CNN or a residual network classifying the 8×8
/// images of the Optical Recognition of Handwritten Digits data set (UCI; `data/README.md`).
///
/// The defaults are the example's: a fixed stratified 80/20 split (20% of each digit's images,
/// drawn with `splitSeed`, for testing), pixels scaled from 0...16 to [0, 1] as
/// `[N, 1, 8, 8]` images, the network of `architecture` (see `Architecture`) with
/// He-initialized weights and zero biases, softmax cross-entropy, Adam, batch 32, and the
/// architecture's epochs and learning rate.
///
/// ```swift
/// let data = try DigitsExperiment.loadData(from: DigitsExperiment.defaultDataPath)
/// var experiment = DigitsExperiment()
/// experiment.seed = 3
/// let result = try experiment.run(on: try experiment.split(data))
/// print(result.testEvaluation.accuracy)
/// ```
public struct DigitsExperiment: TrainingSettings, Sendable {
    /// The data set shipped with the example: `data/digits.csv.gz`, a resource of this target
    /// (its source and licence in `data/README.md` beside it), found from any working directory.
    public static let defaultDataPath = Bundle.module.bundleURL
        .appendingPathComponent("data/digits.csv.gz").path
    /// Digits 0...9.
    public static let classes = 10
    /// Images are `side` × `side` pixels.
    public static let side = 8
    /// The largest pixel count in the data set.
    public static let maximumPixel: Float = 16

    /// The network trained.
    public var architecture: Architecture
    /// The passes over the training images (by default the architecture's).
    public var epochs: Int
    /// The images of a mini-batch.
    public var batchSize = 32
    /// Adam's step size (by default the architecture's).
    public var learningRate: Float
    /// The fraction of each digit's images held out for testing (rounded to whole images).
    public var testFraction = 0.2
    /// Draws the train/test split; fixed so that runs with different `seed`s test on the
    /// same images.
    public var splitSeed: UInt64 = 0
    /// Seeds the initial weights and the shuffling.
    public var seed: UInt64 = 0

    /// The experiment of `architecture`, with its epochs and learning rate.
    public init(architecture: Architecture = .cnn) {
        self.architecture = architecture
        epochs = architecture.epochs
        learningRate = architecture.learningRate
    }

    /// Throws `InvalidOption`, naming the `digits` example's option, when a setting is outside
    /// the range the examples accept: epochs in 1...`maximumEpochs`, a batch size of at least
    /// 1, a positive learning rate.
    public func validate() throws {
        try checkTrainingSettings()
    }

    /// The networks of the example.
    public enum Architecture: String, CaseIterable, Sendable {
        /// Conv2D(1 → 16, 3, padding 1) → ReLU → MaxPool2D(2) → Conv2D(16 → 32, 3, padding 1)
        /// → ReLU → Flatten → Linear(512, 10); Adam with learning rate 1e-3, 30 epochs. Every
        /// layer is a `Function`, so `fit` takes the fused path.
        case cnn
        /// Conv2D(1 → 16, 3, padding 1) → BatchNorm → ReLU → two `ResidualBlock`s of 16
        /// channels → MaxPool2D(2) → Flatten → Linear(256, 10); Adam with learning rate 3e-3,
        /// 10 epochs. The blocks are written from operations, so `fit` trains through the graph.
        case residual

        /// The epochs the architecture trains for by default.
        public var epochs: Int {
            switch self {
            case .cnn: 30
            case .residual: 10
            }
        }

        /// Adam's default step size for the architecture.
        public var learningRate: Float {
            switch self {
            case .cnn: 1e-3
            case .residual: 3e-3
            }
        }

        /// The network, in one line.
        public var summary: String {
            switch self {
            case .cnn:
                "Conv2D(1 → 16, 3) → ReLU → MaxPool2D(2) → Conv2D(16 → 32, 3) → ReLU → Flatten → Linear(512, 10)"
            case .residual:
                "Conv2D(1 → 16, 3) → BatchNorm → ReLU → 2 × ResidualBlock(16) → MaxPool2D(2) → Flatten → Linear(256, 10)"
            }
        }
    }

    /// Images and their digits.
    public struct LabelledImages {
        /// `[count, 1, 8, 8]`, pixels in [0, 1].
        public let inputs: Tensor
        /// The digit of each image, 0...9.
        public let labels: [Int32]

        /// The number of images.
        public var count: Int { labels.count }
    }

    /// The training and test images.
    public struct Split {
        /// The images trained on.
        public let train: LabelledImages
        /// The images held out for testing.
        public let test: LabelledImages
    }

    /// Reads the data set from a CSV file of 64 pixel counts and a digit per row, gzip-
    /// compressed or not (`data/digits.csv.gz`). Throws `DeepLearningError` when the file
    /// cannot be read or parsed, `DigitsDataError` when its rows are not 8×8 images.
    public static func loadData(from path: String) throws -> LabelledImages {
        let (pixels, labels) = try parseLabelledCSV(try readGzipFile(at: path), source: path)
        return try images(pixels: pixels, labels: labels, source: path)
    }

    /// `[N, 64]` pixel counts as `[N, 1, 8, 8]` images in [0, 1]; throws `DigitsDataError`
    /// when rows are not 64 pixels wide or a label is not a digit.
    public static func images(pixels: Tensor, labels: [Int32], source: String) throws
        -> LabelledImages
    {
        let width = pixels.shape[1]
        guard width == side * side else {
            throw DigitsDataError.notImages(source: source, columns: width + 1)
        }
        if let index = labels.firstIndex(where: { $0 >= classes }) {
            throw DigitsDataError.notADigit(source: source, row: index + 1, label: labels[index])
        }
        let inputs = Tensor(shape: [labels.count, 1, side, side],
                            values: pixels.values.map { $0 / maximumPixel })
        return LabelledImages(inputs: inputs, labels: labels)
    }

    /// The stratified split: for each digit, `testFraction` of its images (rounded), drawn
    /// with `splitSeed`, go to the test set and the rest to the training set, in file order.
    /// Throws `DigitsDataError.emptySplit` when either set would have no image (too few images
    /// of each digit to hold `testFraction` of them out), before anything trains on it.
    public func split(_ data: LabelledImages) throws -> Split {
        var generator = SeededGenerator(seed: splitSeed)
        var isTest = [Bool](repeating: false, count: data.count)
        for digit in 0..<Int32(Self.classes) {
            let indices = data.labels.indices.filter { data.labels[$0] == digit }
            let testCount = Int((Double(indices.count) * testFraction).rounded())
            for index in indices.shuffled(using: &generator).prefix(testCount) {
                isTest[index] = true
            }
        }
        func subset(_ test: Bool) -> LabelledImages {
            let rows = data.labels.indices.filter { isTest[$0] == test }
            let pixels = Self.side * Self.side
            let inputs = Tensor(shape: [rows.count, 1, Self.side, Self.side])
            data.inputs.withUnsafeBufferPointer { source in
                inputs.withUnsafeMutableBufferPointer { destination in
                    for (row, index) in rows.enumerated() {
                        (destination.baseAddress! + row * pixels)
                            .update(from: source.baseAddress! + index * pixels, count: pixels)
                    }
                }
            }
            return LabelledImages(inputs: inputs, labels: rows.map { data.labels[$0] })
        }
        let testCount = isTest.filter { $0 }.count
        for (name, count) in [("test", testCount), ("training", data.count - testCount)]
        where count == 0 {
            throw DigitsDataError.emptySplit(split: name, images: data.count,
                                             testFraction: testFraction)
        }
        return Split(train: subset(false), test: subset(true))
    }

    /// The network of `architecture`, untrained (initialize it or load its parameters).
    public static func makeModel(_ architecture: Architecture = .cnn) -> Model {
        switch architecture {
        case .cnn:
            Model {
                Conv2D(inputChannels: 1, outputChannels: 16, kernelSize: 3, padding: 1)
                ReLU()
                MaxPool2D(kernelSize: 2)
                Conv2D(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: 1)
                ReLU()
                Flatten()
                Linear(32 * (side / 2) * (side / 2), classes)
            }
        case .residual:
            Model {
                Conv2D(inputChannels: 1, outputChannels: residualChannels, kernelSize: 3,
                       padding: 1)
                BatchNorm(features: residualChannels)
                ReLU()
                for _ in 0..<residualBlocks { ResidualBlock(channels: residualChannels) }
                MaxPool2D(kernelSize: 2)
                Flatten()
                Linear(residualChannels * (side / 2) * (side / 2), classes)
            }
        }
    }

    /// The channels of the residual network's blocks.
    static let residualChannels = 16
    /// The residual network's blocks.
    static let residualBlocks = 2

    /// The trained model, the mean loss of each epoch and the model's results on the test set.
    public struct Result {
        /// The trained network.
        public let model: Model
        /// The mean loss of each epoch.
        public let lossHistory: [Float]
        /// The trained network's accuracy and confusion matrix on the test images.
        public let testEvaluation: Evaluation
    }

    /// The network of `architecture`, its weights drawn from seed + 1.
    public func initializedModel() -> Model {
        let model = Self.makeModel(architecture)
        model.initializeParameters(seed: seed &+ 1)
        return model
    }

    /// Adam with the experiment's learning rate over `parameters`.
    public func optimizer(for parameters: [Tensor]) -> Adam {
        Adam(parameters: parameters, learningRate: learningRate)
    }

    /// The seed of the shuffling: seed + 2.
    public var shuffleSeed: UInt64 { seed &+ 2 }

    /// Builds the network and trains it on `split.train`; `progress` is called after every
    /// epoch with the model, e.g. to evaluate it on `split.test`.
    public func run(on split: Split, progress: ((TrainingProgress, Model) throws -> Void)? = nil)
        throws -> Result
    {
        let model = initializedModel()
        var progressError: Error?
        let history = try model.fit(split.train.inputs, labels: split.train.labels,
                                    optimizer: optimizer(for: model.parameters),
                                    epochs: epochs, batchSize: batchSize,
                                    seed: shuffleSeed) { report in
            guard progressError == nil else { return }
            do { try progress?(report, model) } catch { progressError = error }
        }
        if let progressError { throw progressError }
        return Result(model: model, lossHistory: history,
                      testEvaluation: try Evaluation(model: model, on: split.test))
    }
}

/// A model's accuracy and confusion matrix on labelled images.
public struct Evaluation: Sendable {
    /// The fraction of images whose predicted digit is the label.
    public let accuracy: Double
    /// `confusion[label][predicted]`: how many images of digit `label` were predicted as
    /// `predicted`.
    public let confusion: [[Int]]

    /// Evaluates `model` on `data`; throws when `data` is empty.
    public init(model: Model, on data: DigitsExperiment.LabelledImages) throws {
        accuracy = try model.accuracy(data.inputs, labels: data.labels)
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: DigitsExperiment.classes),
                                count: DigitsExperiment.classes)
        for (label, predicted) in zip(data.labels, model.predict(data.inputs)) {
            confusion[Int(label)][Int(predicted)] += 1
        }
        self.confusion = confusion
    }

    /// The confusion matrix as aligned text: a header of predicted digits, then one row per
    /// true digit, starting with that digit.
    public var confusionTable: String {
        let width = max(3, String(confusion.joined().max() ?? 0).count + 1)
        func cell(_ text: String) -> String { String(repeating: " ", count: width - text.count) + text }
        let header = String(repeating: " ", count: width + 2)
            + confusion.indices.map { cell(String($0)) }.joined()
        let rows = confusion.enumerated().map { digit, counts in
            cell(String(digit)) + "  " + counts.map { cell(String($0)) }.joined()
        }
        return ([header] + rows).joined(separator: "\n")
    }
}

/// Rows of a data file that are not labelled 8×8 digit images.
public enum DigitsDataError: Error, Equatable, CustomStringConvertible {
    /// The rows have `columns` fields instead of 64 pixels and a label.
    case notImages(source: String, columns: Int)
    /// `label` in `row` (from 1) is not a digit 0...9.
    case notADigit(source: String, row: Int, label: Int32)
    /// The `split` set ("test" or "training") would have no image: holding out `testFraction`
    /// of each digit's images, rounded, from `images` images leaves it empty.
    case emptySplit(split: String, images: Int, testFraction: Double)

    public var description: String {
        switch self {
        case let .notImages(source, columns):
            "the rows of \(source) have \(columns) fields, not 64 pixels and a label"
        case let .notADigit(source, row, label):
            "the label \(label) in row \(row) of \(source) is not a digit 0...9"
        case let .emptySplit(split, images, testFraction):
            "the \(split) split is empty: holding out \(testFraction * 100)% of each digit's images (rounded) for testing leaves no \(split) image among the \(images) images; the data set is too small"
        }
    }
}
