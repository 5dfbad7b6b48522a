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
    /// `optimizer` steps (a plain optimizer: a `DistributedOptimizer`, which would combine
    /// the gradients a second time, stops with a message).
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
    /// Throws `DistributedError` on every rank when any rank fails: the data sets, the
    /// settings (epochs, global batch, shuffling, `dropLast`, seed, placement, the loss's
    /// type, the optimizer's kind, settings, learning rate and parameters, the schedule's,
    /// the number of penalties, resuming or not) or the step counts differ, a rank's inputs
    /// have not one row per label, a label is out of range, the loss becomes NaN or
    /// infinite, `beforeStep` throws, a checkpoint cannot be written or does not fit. A fault
    /// in a step leaves, on every rank alike, the parameters, the optimizer's buffers and step
    /// counts, and every layer's buffers and counters (`BatchNorm`'s running statistics and
    /// count, those a layer of your own updates in place) as the last step left them, and the
    /// schedule as the last whole epoch left it: the step that failed updates nothing, and
    /// each rank's `Model.fit` puts back what the step's passes wrote in its layers (the
    /// gradients are then unspecified, and `Dropout` has drawn the step's masks). A checkpoint
    /// that cannot be written throws after its epoch, whose steps are kept.
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
        let batchSize = rankBatchSize(of: globalBatchSize)
        let settings = fitSettings(epochs: epochs, globalBatchSize: globalBatchSize,
                                   shuffle: shuffle, dropLast: dropLast, seed: seed,
                                   placement: placement, loss: loss, optimizer: optimizer,
                                   schedule: schedule, penalties: penalties.count,
                                   resuming: checkpointPath != nil)
        return try run {
            let (shardInputs, shardLabels) = try placement == .wholeDataSet
                ? shard(inputs, labels: labels, globalBatchSize: globalBatchSize,
                        dropLast: dropLast)
                : (inputs, labels)
            return try fitShard(samples: shardLabels.count, of: labels.count,
                                placement: placement, batchSize: batchSize, dropLast: dropLast,
                                settings: settings, optimizer: optimizer, checkpoints: checkpoints,
                                resumingFrom: checkpointPath, progress: progress,
                                beforeStep: beforeStep) { rank in
                try model.fit(shardInputs, labels: shardLabels, loss: loss, optimizer: optimizer,
                              schedule: schedule, epochs: epochs, batchSize: batchSize,
                              shuffle: shuffle, dropLast: rank.dropLast, seed: seed,
                              penalties: penalties, checkpoints: rank.checkpoints,
                              resumingFrom: checkpointPath, progress: rank.progress,
                              beforeStep: rank.beforeStep)
            }
        }
    }

    /// Trains `model` with `Model.fit(_:targets:...)` on every rank to predict `targets`
    /// (`[samples, ...]`, one row per sample, each of the shape of the model's output for one
    /// sample) from `inputs`: regression, with `MeanSquaredError` by default, or any
    /// `TargetLoss`. Returns the global mean loss of each epoch it trained. Everything else
    /// (placement, global batches, agreement, schedule, penalties, checkpoints and resuming,
    /// progress, `beforeStep`, the errors) is as in `fit(_:inputs:labels:...)`, with "labels"
    /// read as "rows of targets".
    ///
    /// ```swift
    /// let model = Model { Linear(1, 64); Tanh(); Linear(64, 1) }
    /// let parallel = try DataParallel(model: model, world: World())
    /// try parallel.fit(model, inputs: x, targets: y, loss: HuberLoss(delta: 0.5),
    ///                  optimizer: Adam(parameters: model.parameters), epochs: 100,
    ///                  globalBatchSize: 32)   // x, y: [N, 1]
    /// ```
    @discardableResult
    public func fit(_ model: Model, inputs: Tensor, targets: Tensor,
                    holding placement: DataPlacement = .wholeDataSet,
                    loss: some TargetLoss = MeanSquaredError(), optimizer: some Optimizer,
                    schedule: (any LearningRateSchedule)? = nil, epochs: Int,
                    globalBatchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                    seed: UInt64 = 0, penalties: [Penalty] = [], checkpoints: Checkpointing? = nil,
                    resumingFrom checkpointPath: String? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil,
                    beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)? = nil) throws
        -> [Float]
    {
        let batchSize = rankBatchSize(of: globalBatchSize)
        let settings = fitSettings(epochs: epochs, globalBatchSize: globalBatchSize,
                                   shuffle: shuffle, dropLast: dropLast, seed: seed,
                                   placement: placement, loss: loss, optimizer: optimizer,
                                   schedule: schedule, penalties: penalties.count,
                                   resuming: checkpointPath != nil)
        return try run {
            let (shardInputs, shardTargets) = try placement == .wholeDataSet
                ? shard(inputs, targets: targets, globalBatchSize: globalBatchSize,
                        dropLast: dropLast)
                : (inputs, targets)
            return try fitShard(samples: shardTargets.shape.first ?? 0,
                                of: targets.shape.first ?? 0,
                                placement: placement, batchSize: batchSize, dropLast: dropLast,
                                settings: settings, optimizer: optimizer, checkpoints: checkpoints,
                                resumingFrom: checkpointPath, progress: progress,
                                beforeStep: beforeStep) { rank in
                try model.fit(shardInputs, targets: shardTargets, loss: loss,
                              optimizer: optimizer, schedule: schedule, epochs: epochs,
                              batchSize: batchSize, shuffle: shuffle, dropLast: rank.dropLast,
                              seed: seed, penalties: penalties, checkpoints: rank.checkpoints,
                              resumingFrom: checkpointPath, progress: rank.progress,
                              beforeStep: rank.beforeStep)
            }
        }
    }

    /// Each rank's batch size: `globalBatchSize` / ranks, which must divide it.
    private func rankBatchSize(of globalBatchSize: Int) -> Int {
        require(globalBatchSize >= world.size && globalBatchSize % world.size == 0,
                "DataParallel.fit: global batch \(globalBatchSize) is not a multiple of the "
                    + "\(world.size) ranks")
        return globalBatchSize / world.size
    }

    /// The settings of a `fit` that every rank must share, one per line, for `agreeOnPlan`:
    /// ranks that trained with different ones would take different steps or step
    /// differently, and their parameters would no longer be identical.
    private func fitSettings(epochs: Int, globalBatchSize: Int, shuffle: Bool, dropLast: Bool,
                             seed: UInt64, placement: DataPlacement, loss: Any,
                             optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                             penalties: Int, resuming: Bool) -> [String] {
        func described(_ contents: CheckpointContents) -> String {
            ([contents.kind] + contents.settings.map { "\($0.name) \($0.value)" })
                .joined(separator: ", ")
        }
        return ["\(epochs) epochs", "global batch \(globalBatchSize)", "shuffle \(shuffle)",
                "dropLast \(dropLast)", "seed \(seed)", "holding \(placement)",
                "loss \(type(of: loss))",
                "optimizer \(described(optimizer.checkpointContents)), learning rate "
                    + "\(optimizer.learningRate)",
                "optimizer's parameters " + places(of: optimizer.parameters),
                "schedule " + (schedule.map { described($0.checkpointContents) } ?? "none"),
                "\(penalties) penalties", resuming ? "resuming" : "not resuming"]
    }

    /// What `fitShard` gives the rank's `Model.fit`: its `dropLast`, its `checkpoints` (rank
    /// 0's only), and the `progress` and `beforeStep` that agree across the ranks.
    private struct RankFit {
        let dropLast: Bool
        let checkpoints: Checkpointing?
        let progress: (TrainingProgress) -> Void
        let beforeStep: (_ loss: Float, _ samples: Int) throws -> Void
    }

    /// Both `fit` forms' training of this rank's `samples` (of `wholeDataSetSamples` with
    /// `.wholeDataSet`): agrees on the plan and the `settings`, then runs `train` (the rank's `Model.fit`) with
    /// the step's agreement before every update and the epoch's global mean loss after every
    /// epoch, and returns those losses. Call within `run`.
    private func fitShard(samples: Int, of wholeDataSetSamples: Int, placement: DataPlacement,
                          batchSize: Int, dropLast: Bool, settings: [String],
                          optimizer: some Optimizer,
                          checkpoints: Checkpointing?, resumingFrom checkpointPath: String?,
                          progress: ((TrainingProgress) -> Void)?,
                          beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)?,
                          train: (RankFit) throws -> Void) throws -> [Float] {
        require(!(optimizer is DistributedOptimizer),
                "DataParallel.fit: its optimizer is a DistributedOptimizer, whose step would "
                    + "combine the gradients that fit combines itself: pass the "
                    + "\(optimizer.checkpointContents.kind) it wraps")
        try agreeOnPlan(samples: samples, batchSize: batchSize,
                        dropLast: placement == .shard && dropLast,
                        wholeDataSetSamples: placement == .wholeDataSet ? wholeDataSetSamples : nil,
                        equalShares: checkpointPath != nil, settings: settings)
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
        try train(RankFit(
            dropLast: placement == .shard && dropLast,
            checkpoints: world.rank == 0 ? checkpoints : nil,
            progress: { epoch in
                history.append(self.takeEpochLoss())
                if self.world.rank == 0 {
                    progress?(TrainingProgress(epoch: epoch.epoch, epochs: epoch.epochs,
                                               loss: history.last!))
                }
            },
            beforeStep: agreeAndCombine))
        return history
    }
}
