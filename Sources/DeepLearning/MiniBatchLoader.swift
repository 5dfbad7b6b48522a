import CKernels

/// Cuts a data set into mini-batches, reshuffled at the start of every epoch by a seedable
/// generator. The last batch holds the remainder when the batch size does not divide the data
/// set, unless `dropLast` (PyTorch's `drop_last`) leaves it out; a batch size above the number
/// of samples gives one batch of all of them, with `dropLast` too (where PyTorch's gives no
/// batch). Samples may be vectors (`[samples, features]`) or of any shape (`[samples,
/// channels, height, width]` for images): a batch keeps the shape of one sample.
///
/// What each sample is trained towards is either a class label (`init(inputs:labels:...)`,
/// batches from `forEachBatch(_:)`) or a tensor of targets (`init(inputs:targets:...)`,
/// batches from `forEachTargetBatch(_:)`), whose rows are gathered with the inputs' rows.
///
/// ```swift
/// let loader = try MiniBatchLoader(inputs: x, labels: y, batchSize: 20, seed: 7)
/// loader.forEachBatch { batch, inputs, labels in
///     // inputs: [≤ 20, features], labels: ≤ 20 labels
/// }
/// let regression = try MiniBatchLoader(inputs: x, targets: t, batchSize: 20)
/// regression.forEachTargetBatch { batch, inputs, targets in
///     // inputs: [≤ 20, features], targets: [≤ 20, outputs]
/// }
/// ```
public final class MiniBatchLoader {
    /// The samples, `[samples, ...]`: the tensor the loader was made with (not copied).
    public let inputs: Tensor
    /// The class labels, one per sample; empty when the loader holds `targets`.
    public let labels: [Int32]
    /// The targets (`[samples, ...]`), or nil when the loader holds `labels`.
    public let targets: Tensor?
    /// The samples of a full batch: the requested batch size, or `sampleCount` when that is
    /// smaller.
    public let batchSize: Int
    /// Whether each epoch reshuffles the samples (the `shuffle` argument, default true); when
    /// false, batches follow the samples' order.
    public let shuffles: Bool
    /// Whether an epoch leaves out the last, partial batch (PyTorch's `drop_last`).
    public let dropsLast: Bool
    /// The number of samples: the first dimension of `inputs`.
    public let sampleCount: Int
    @exclusivity(unchecked) private var generator: SeededGenerator
    /// Sample indices in this epoch's order.
    @exclusivity(unchecked) private var order: [Int64]
    private let batchInputs: Tensor
    @exclusivity(unchecked) private var batchLabels: [Int32]
    private let batchTargets: Tensor?
    /// The shape of one sample: `inputs.shape` without its first dimension.
    private let sampleShape: [Int]

    /// Throws when `inputs` (`[samples, ...]`) is empty, when the numbers of samples and
    /// labels differ, or when `batchSize` is below 1. With `dropLast`, an epoch leaves out the
    /// last batch when it would hold fewer than `batchSize` samples (the samples it leaves
    /// out change with every shuffle).
    public convenience init(inputs: Tensor, labels: [Int32], batchSize: Int,
                            shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0) throws {
        require(inputs.shape.count >= 2,
                "MiniBatchLoader: inputs of shape \(inputs.shape) are not [samples, features...]")
        guard inputs.shape[0] == labels.count else {
            throw DeepLearningError.countMismatch(samples: inputs.shape[0], labels: labels.count)
        }
        try self.init(inputs: inputs, labels: labels, targets: nil, batchSize: batchSize,
                      shuffle: shuffle, dropLast: dropLast, seed: seed)
    }

    /// A loader of `inputs` (`[samples, ...]`) and their `targets` (`[samples, ...]`, one row
    /// per sample, of any shape). Throws when `inputs` is empty, when the numbers of samples
    /// and rows of targets differ, or when `batchSize` is below 1. `dropLast` as above.
    public convenience init(inputs: Tensor, targets: Tensor, batchSize: Int,
                            shuffle: Bool = true, dropLast: Bool = false, seed: UInt64 = 0) throws {
        require(inputs.shape.count >= 2 && targets.shape.count >= 1,
                "MiniBatchLoader: inputs of shape \(inputs.shape) and targets of shape \(targets.shape) are not [samples, features...] and [samples, ...]")
        guard inputs.shape[0] == targets.shape[0] else {
            throw DeepLearningError.targetCountMismatch(samples: inputs.shape[0],
                                                        targets: targets.shape[0])
        }
        try self.init(inputs: inputs, labels: [], targets: targets, batchSize: batchSize,
                      shuffle: shuffle, dropLast: dropLast, seed: seed)
    }

    /// A loader of `inputs` and either `labels` or `targets`, whose counts the caller checked.
    private init(inputs: Tensor, labels: [Int32], targets: Tensor?, batchSize: Int,
                 shuffle: Bool, dropLast: Bool, seed: UInt64) throws {
        let samples = inputs.shape[0]
        guard samples > 0 else { throw DeepLearningError.emptyDataSet }
        guard batchSize >= 1 else { throw DeepLearningError.invalidBatchSize(batchSize) }
        self.inputs = inputs
        self.labels = labels
        self.targets = targets
        sampleCount = samples
        let batchSize = min(batchSize, samples)
        self.batchSize = batchSize
        shuffles = shuffle
        dropsLast = dropLast
        generator = SeededGenerator(seed: seed)
        order = (0..<Int64(samples)).map { $0 }
        sampleShape = Array(inputs.shape.dropFirst())
        batchInputs = Tensor(shape: [batchSize] + sampleShape)
        batchLabels = [Int32](repeating: 0, count: targets == nil ? batchSize : 0)
        batchTargets = targets.map { Tensor(shape: [batchSize] + $0.shape.dropFirst()) }
    }

    /// What the next epoch's shuffle starts from: the generator and the order of the last
    /// epoch (each shuffle permutes the previous order). Training checkpoints save and restore
    /// it; a restored order must be a permutation of the samples' indices.
    var shuffleState: (generator: SeededGenerator, order: [Int64]) {
        get { (generator, order) }
        set {
            require(newValue.order.count == sampleCount,
                    "MiniBatchLoader: a shuffle order of \(newValue.order.count) indices does not fit the \(sampleCount) samples; it must hold each sample's index once")
            (generator, order) = newValue
        }
    }

    /// The number of batches in an epoch.
    public var batchCount: Int {
        dropsLast ? sampleCount / batchSize : (sampleCount + batchSize - 1) / batchSize
    }

    /// The number of samples in an epoch's last batch, its smallest.
    public var lastBatchSize: Int { min(batchSize, sampleCount - (batchCount - 1) * batchSize) }

    /// Runs one epoch of a loader of labels: reshuffles (when shuffling), then calls `body`
    /// with each batch's index (from 0), inputs and labels. Both are the loader's buffers,
    /// overwritten by the next batch.
    public func forEachBatch(
        _ body: (_ batch: Int, _ inputs: Tensor, _ labels: ArraySlice<Int32>) throws -> Void
    ) rethrows {
        require(targets == nil,
                "MiniBatchLoader.forEachBatch: this loader holds targets, not labels: use forEachTargetBatch")
        try forEachOrder { batch, batchInputs, batchOrder in
            let rows = batchInputs.shape[0]
            labels.withUnsafeBufferPointer { labels in
                batchLabels.withUnsafeMutableBufferPointer { batchLabels in
                    for row in 0..<rows { batchLabels[row] = labels[Int(batchOrder[row])] }
                }
            }
            try body(batch, batchInputs, batchLabels[0..<rows])
        }
    }

    /// Runs one epoch of a loader of targets: reshuffles (when shuffling), then calls `body`
    /// with each batch's index (from 0), inputs and targets (the targets' rows of the batch's
    /// samples). Both are the loader's buffers, overwritten by the next batch.
    public func forEachTargetBatch(
        _ body: (_ batch: Int, _ inputs: Tensor, _ targets: Tensor) throws -> Void
    ) rethrows {
        require(targets != nil,
                "MiniBatchLoader.forEachTargetBatch: this loader holds labels, not targets: use forEachBatch")
        let (targets, batchTargets) = (self.targets!, self.batchTargets!)
        let targetShape = Array(targets.shape.dropFirst())
        let width = targetShape.reduce(1, *)
        try forEachOrder { batch, batchInputs, batchOrder in
            let rows = batchInputs.shape[0]
            let batchTargets = Tensor.reusing(batchTargets, batch: rows, sampleShape: targetShape)
            ck_gather_rows(Int64(rows), Int64(width), targets.value, Int64(width), batchOrder,
                           batchTargets.value)
            try body(batch, batchInputs, batchTargets)
        }
    }

    /// Reshuffles (when shuffling), then calls `body` with each batch's index, its inputs
    /// (gathered) and its samples' indices.
    private func forEachOrder(
        _ body: (_ batch: Int, _ inputs: Tensor, _ order: UnsafePointer<Int64>) throws -> Void
    ) rethrows {
        if shuffles { order.shuffle(using: &generator) }
        let features = sampleShape.reduce(1, *)
        for batch in 0..<batchCount {
            let start = batch * batchSize
            let rows = min(batchSize, sampleCount - start)
            let batchInputs = Tensor.reusing(batchInputs, batch: rows, sampleShape: sampleShape)
            try order.withUnsafeBufferPointer { order in
                let batchOrder = order.baseAddress! + start
                ck_gather_rows(Int64(rows), Int64(features), inputs.value, Int64(features),
                               batchOrder, batchInputs.value)
                try body(batch, batchInputs, batchOrder)
            }
        }
    }
}
