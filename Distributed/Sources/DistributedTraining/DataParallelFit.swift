import DeepLearning

/// Where the samples passed to `DataParallel.fit` come from.
public enum DataPlacement: Sendable {
    /// Every rank passes the whole data set and trains on its share of every global batch
    /// (`DataParallel.shard`).
    case wholeDataSet
    /// Every rank passes only its own samples, trained in mini-batches of
    /// globalBatchSize / ranks.
    case shard
}

extension DataParallel {
    /// Trains `model` with `Model.fit` on every rank, each rank on its share of every global
    /// batch of `globalBatchSize` samples (a multiple of the rank count), and returns the
    /// global mean loss of each epoch. The ranks agree first on the data set's size and the
    /// step count, then every step on the loss and on failures (see the type's
    /// documentation); `optimizer` is wrapped in a `DistributedOptimizer`. Only rank 0 writes
    /// `checkpoints` and calls `progress` (with the epoch, from 1, and its global mean loss).
    ///
    /// Without shuffling, N ranks give the losses of one process training on global batches
    /// (within rounding). With shuffling, each rank reshuffles its own samples every epoch
    /// (every rank with the same `seed`), so a global batch is a random draw from each rank's
    /// share rather than from the whole data set.
    ///
    /// Throws `DistributedError` on every rank when any rank fails: the data sets or step
    /// counts differ, a label is out of range, the loss becomes NaN or infinite, a
    /// checkpoint cannot be written.
    @discardableResult
    public func fit(_ model: Model, inputs: Tensor, labels: [Int32],
                    holding placement: DataPlacement = .wholeDataSet,
                    loss: some Loss = SoftmaxCrossEntropy(), optimizer: some Optimizer,
                    epochs: Int, globalBatchSize: Int, shuffle: Bool = true,
                    dropLast: Bool = false, seed: UInt64 = 0, checkpoints: Checkpointing? = nil,
                    progress: ((_ epoch: Int, _ globalLoss: Float) -> Void)? = nil) throws
        -> [Float]
    {
        precondition(globalBatchSize >= world.size && globalBatchSize % world.size == 0,
                "DataParallel.fit: global batch \(globalBatchSize) is not a multiple of the "
                    + "\(world.size) ranks")
        return try run {
            let (shardInputs, shardLabels) = placement == .wholeDataSet
                ? shard(inputs, labels: labels, globalBatchSize: globalBatchSize,
                        dropLast: dropLast)
                : (inputs, labels)
            let batchSize = globalBatchSize / world.size
            try agreeOnPlan(samples: shardLabels.count, batchSize: batchSize,
                            dropLast: placement == .shard && dropLast,
                            wholeDataSetSamples: placement == .wholeDataSet ? labels.count : nil)
            resetEpochLoss()
            var history: [Float] = []
            try model.fit(shardInputs, labels: shardLabels,
                          loss: SynchronizedLoss(loss, parallel: self),
                          optimizer: DistributedOptimizer(wrapping: optimizer, parallel: self),
                          epochs: epochs, batchSize: batchSize, shuffle: shuffle,
                          dropLast: placement == .shard && dropLast, seed: seed,
                          checkpoints: world.rank == 0 ? checkpoints : nil) { epoch in
                history.append(self.takeEpochLoss())
                if self.world.rank == 0 { progress?(epoch.epoch, history.last!) }
            }
            return history
        }
    }
}

/// A loss whose `forward` agrees with the other ranks (`DataParallel.synchronize`): it
/// returns the global batch's mean loss, and throws on every rank when any rank's loss
/// failed (a label out of range) or is not finite.
final class SynchronizedLoss<Wrapped: Loss>: Loss {
    let wrapped: Wrapped
    let parallel: DataParallel

    init(_ wrapped: Wrapped, parallel: DataParallel) {
        self.wrapped = wrapped
        self.parallel = parallel
    }

    func forward<Labels: Collection<Int32>>(_ output: Tensor, labels: Labels) throws -> Float {
        var value: Float = 0
        var failure: String?
        do {
            value = try wrapped.forward(output, labels: labels)
        } catch {
            failure = "\(error)"
        }
        return try parallel.synchronize(loss: value, samples: labels.count, failure: failure)
    }

    func backward() -> Tensor { wrapped.backward() }
}
