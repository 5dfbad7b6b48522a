import CKernels

/// Cuts a data set into mini-batches, reshuffled at the start of every epoch by a seedable
/// generator. The last batch holds the remainder when the batch size does not divide the data
/// set, unless `dropLast` (PyTorch's `drop_last`) leaves it out; a batch size above the number
/// of samples gives one batch of all of them. Samples may be vectors (`[samples, features]`)
/// or of any shape (`[samples, channels, height, width]` for images): a batch keeps the shape
/// of one sample.
///
/// ```swift
/// let loader = try MiniBatchLoader(inputs: x, labels: y, batchSize: 20, seed: 7)
/// loader.forEachBatch { batch, inputs, labels in
///     // inputs: [≤ 20, features], labels: ≤ 20 labels
/// }
/// ```
public final class MiniBatchLoader {
    public let inputs: Tensor
    public let labels: [Int32]
    public let batchSize: Int
    public let shuffles: Bool
    /// Whether an epoch leaves out the last, partial batch (PyTorch's `drop_last`).
    public let dropsLast: Bool
    @exclusivity(unchecked) private var generator: SeededGenerator
    /// Sample indices in this epoch's order.
    @exclusivity(unchecked) private var order: [Int64]
    private let batchInputs: Tensor
    @exclusivity(unchecked) private var batchLabels: [Int32]
    /// The shape of one sample: `inputs.shape` without its first dimension.
    private let sampleShape: [Int]

    /// Throws when `inputs` (`[samples, ...]`) is empty, when the numbers of samples and
    /// labels differ, or when `batchSize` is below 1. With `dropLast`, an epoch leaves out the
    /// last batch when it would hold fewer than `batchSize` samples (the samples it leaves
    /// out change with every shuffle).
    public init(inputs: Tensor, labels: [Int32], batchSize: Int, shuffle: Bool = true,
                dropLast: Bool = false, seed: UInt64 = 0) throws {
        require(inputs.shape.count >= 2,
                "MiniBatchLoader: inputs of shape \(inputs.shape) are not [samples, features...]")
        let samples = inputs.shape[0]
        guard samples == labels.count else {
            throw DeepLearningError.countMismatch(samples: samples, labels: labels.count)
        }
        guard samples > 0 else { throw DeepLearningError.emptyDataSet }
        guard batchSize >= 1 else { throw DeepLearningError.invalidBatchSize(batchSize) }
        self.inputs = inputs
        self.labels = labels
        self.batchSize = min(batchSize, samples)
        shuffles = shuffle
        dropsLast = dropLast
        generator = SeededGenerator(seed: seed)
        order = (0..<Int64(samples)).map { $0 }
        sampleShape = Array(inputs.shape.dropFirst())
        batchInputs = Tensor(shape: [self.batchSize] + sampleShape)
        batchLabels = [Int32](repeating: 0, count: self.batchSize)
    }

    /// What the next epoch's shuffle starts from: the generator and the order of the last
    /// epoch (each shuffle permutes the previous order). Training checkpoints save and restore
    /// it; a restored order must be a permutation of the samples' indices.
    var shuffleState: (generator: SeededGenerator, order: [Int64]) {
        get { (generator, order) }
        set {
            require(newValue.order.count == labels.count,
                    "MiniBatchLoader: an order of \(newValue.order.count) indices for \(labels.count) samples")
            (generator, order) = newValue
        }
    }

    /// The number of batches in an epoch.
    public var batchCount: Int {
        dropsLast ? labels.count / batchSize : (labels.count + batchSize - 1) / batchSize
    }

    /// The number of samples in an epoch's last batch, its smallest.
    public var lastBatchSize: Int { min(batchSize, labels.count - (batchCount - 1) * batchSize) }

    /// Runs one epoch: reshuffles (when shuffling), then calls `body` with each batch's index
    /// (from 0), inputs and labels. Both are the loader's buffers, overwritten by the next batch.
    public func forEachBatch(
        _ body: (_ batch: Int, _ inputs: Tensor, _ labels: ArraySlice<Int32>) throws -> Void
    ) rethrows {
        if shuffles { order.shuffle(using: &generator) }
        let features = sampleShape.reduce(1, *)
        for batch in 0..<batchCount {
            let start = batch * batchSize
            let rows = min(batchSize, labels.count - start)
            let batchInputs = Tensor.reusing(batchInputs, batch: rows, sampleShape: sampleShape)
            order.withUnsafeBufferPointer { order in
                let batchOrder = order.baseAddress! + start
                ck_gather_rows(Int64(rows), Int64(features), inputs.value, Int64(features),
                               batchOrder, batchInputs.value)
                labels.withUnsafeBufferPointer { labels in
                    batchLabels.withUnsafeMutableBufferPointer { batchLabels in
                        for row in 0..<rows { batchLabels[row] = labels[Int(batchOrder[row])] }
                    }
                }
            }
            try body(batch, batchInputs, batchLabels[0..<rows])
        }
    }
}
