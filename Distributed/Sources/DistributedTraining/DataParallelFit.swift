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
    /// global mean loss of each epoch it trained. The ranks agree first on the data set's size
    /// and the step count, then once every step, just before the update: on the step's loss
    /// and on failures (see the type's documentation). There the gradients are combined into
    /// the global batch's mean and rank 0's buffers copied to every rank; then every rank's
    /// `optimizer` steps.
    ///
    /// The other arguments are `Model.fit`'s: `schedule` steps after every epoch on every
    /// rank; `penalties` are added to each rank's loss and gradients before they are combined
    /// (the parameters being the same on every rank, so are the penalties); `beforeStep` is
    /// called on every rank with its own loss (penalties included) and sample count before
    /// the agreement, and an error it throws on any rank stops every rank. Only rank 0 writes
    /// `checkpoints` and calls `progress` (with the global mean loss of the epoch).
    ///
    /// `resumingFrom` continues from a checkpoint rank 0 wrote, which every rank reads (so
    /// the path must be readable on every rank, as on a shared file system): load the model's
    /// file saved with it on every rank first (or on rank 0 before making the
    /// `DataParallel`, which copies rank 0's model), and pass the same data, settings and
    /// rank count. The checkpoint holds rank 0's mini-batch order, so every rank must hold as
    /// many samples (its share of the data set).
    ///
    /// ```swift
    /// let files = Checkpointing(modelPath: "run.safetensors", checkpointPath: "run.checkpoint")
    /// try parallel.fit(model, inputs: x, labels: y, optimizer: optimizer, schedule: schedule,
    ///                  epochs: 10, globalBatchSize: 64, checkpoints: files)
    /// // Interrupted; later, on every rank, with the optimizer and schedule made afresh:
    /// try model.load(from: files.modelPath)
    /// try parallel.fit(model, inputs: x, labels: y, optimizer: optimizer, schedule: schedule,
    ///                  epochs: 10, globalBatchSize: 64, checkpoints: files,
    ///                  resumingFrom: files.checkpointPath)
    /// ```
    ///
    /// Without shuffling, N ranks give the losses of one process training on global batches
    /// (within rounding). With shuffling, each rank reshuffles its own samples every epoch
    /// (every rank with the same `seed`), so a global batch is a random draw from each rank's
    /// share rather than from the whole data set.
    ///
    /// Throws `DistributedError` on every rank when any rank fails: the data sets or step
    /// counts differ, a label is out of range, the loss becomes NaN or infinite, `beforeStep`
    /// throws, a checkpoint cannot be written or does not fit.
    @discardableResult
    public func fit(_ model: Model, inputs: Tensor, labels: [Int32],
                    holding placement: DataPlacement = .wholeDataSet,
                    loss: some Loss = SoftmaxCrossEntropy(), optimizer: some Optimizer,
                    schedule: (any LearningRateSchedule)? = nil, epochs: Int,
                    globalBatchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                    seed: UInt64 = 0, penalties: [Penalty] = [], checkpoints: Checkpointing? = nil,
                    resumingFrom checkpointPath: String? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil,
                    beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)? = nil) throws
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
                            wholeDataSetSamples: placement == .wholeDataSet ? labels.count : nil,
                            equalShares: checkpointPath != nil)
            resetEpochLoss()
            var history: [Float] = []
            // The step's agreement, last before the update, so that an error anywhere in a
            // rank's step reaches every rank.
            func agreeAndCombine(loss: Float, samples: Int) throws {
                var failure: String?
                do {
                    try beforeStep?(loss, samples)
                } catch {
                    failure = "\(error)"
                }
                _ = try synchronize(loss: loss, samples: samples, failure: failure)
                combineGradients(of: optimizer.parameters)
                broadcastBuffers()
            }
            try model.fit(shardInputs, labels: shardLabels, loss: loss, optimizer: optimizer,
                          schedule: schedule, epochs: epochs, batchSize: batchSize,
                          shuffle: shuffle, dropLast: placement == .shard && dropLast,
                          seed: seed, penalties: penalties,
                          checkpoints: world.rank == 0 ? checkpoints : nil,
                          resumingFrom: checkpointPath,
                          progress: { epoch in
                              history.append(self.takeEpochLoss())
                              if self.world.rank == 0 {
                                  progress?(TrainingProgress(epoch: epoch.epoch,
                                                             epochs: epoch.epochs,
                                                             loss: history.last!))
                              }
                          },
                          beforeStep: agreeAndCombine)
            return history
        }
    }
}
