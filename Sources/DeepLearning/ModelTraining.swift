// Training a `Model`: `fit` towards labels or towards targets, the checks it makes before
// training, and its loop over epochs and mini-batches (on the fused passes or the graph).

extension Model {
    /// Trains for `epochs` passes over the data in shuffled mini-batches and returns the mean
    /// loss of each epoch it trained. Each step: forward, loss, zero the gradients, backward,
    /// update. After each epoch `schedule`, when given, steps (it must set `optimizer`'s rate;
    /// do not also step it in `progress`); then `checkpoints`, when given, saves the model and
    /// a training checkpoint (`Checkpointing`), then `progress` is called.
    ///
    /// `resumingFrom` continues the training whose checkpoint is at that path (saved by
    /// `checkpoints` or `saveCheckpoint`): load the model's file saved with it first, make the
    /// optimizer and schedule with the same settings and pass the same data, batch size,
    /// shuffling and `dropLast`; `epochs` is then the whole training's count, and the epochs
    /// after the checkpoint's are trained, bit for bit as the uninterrupted training would
    /// have trained them. A checkpoint that does not fit throws before training, with nothing
    /// changed (see `restoreCheckpoint(from:optimizer:schedule:loader:)`).
    ///
    /// ```swift
    /// let files = Checkpointing(modelPath: "run.safetensors", checkpointPath: "run.checkpoint")
    /// try model.fit(x, labels: y, optimizer: optimizer, schedule: schedule, epochs: 10,
    ///               batchSize: 32, checkpoints: files)
    /// // Interrupted after epoch 5; later, in another process, with the same model, optimizer
    /// // and schedule made afresh:
    /// try model.load(from: files.modelPath)
    /// try model.fit(x, labels: y, optimizer: optimizer, schedule: schedule, epochs: 10,
    ///               batchSize: 32, checkpoints: files, resumingFrom: files.checkpointPath)
    /// ```
    ///
    /// Throws `DeepLearningError` when the data set is empty, the numbers of samples and labels
    /// differ, `batchSize` is below 1, a label is outside the model's classes, a layer cannot
    /// train on the smallest batch (`BatchNorm` on a last batch of one sample, in the model or
    /// inside a layer of its: `dropLast` leaves that batch out, as PyTorch's `drop_last`;
    /// `Function.smallestTrainingBatch(sampleShape:)`), a checkpoint's path cannot be written
    /// (`checkReplaceable(at:)`: a directory, or a directory that is missing or not writable),
    /// saving a checkpoint fails (then neither of its two files is replaced, unless it is the
    /// second of their renames that fails: see `Checkpointing`), or the loss becomes NaN or
    /// infinite. All but the last two are found before training, with the parameters and
    /// running statistics unchanged. Before training too, `fit` stops with a message when
    /// `optimizer` updates none of the model's parameters (one made for another model); one
    /// that updates some of them trains those only (the others frozen), and one may also
    /// update tensors outside the model (of a `CustomLoss`). Layers that do not fit each other
    /// or the data stop with a message naming the layer by its position ("layer 2", "1.0" in
    /// a nested model, as in saved files) and the shapes of the samples and batches that
    /// reach it, before the layer's own message about the one sample the check runs. On the
    /// graph (a layer that is not a `Function`), a layer that takes the one sample but not a
    /// whole batch (one of your own that depends on the batch size) stops in the first batch
    /// of that size (a full one, or a smaller last one) with its position, "Model.fit" and the
    /// batch's shape too.
    ///
    /// An error thrown in a batch before its update (a loss that becomes NaN or infinite, a
    /// `loss` or `beforeStep` that throws) leaves the parameters, the optimizer's buffers and
    /// step counts, and every layer's buffers and counters (`BatchNorm`'s running statistics
    /// and count, those a layer of your own updates in place, each once however many paths
    /// reach it) as the batch before left them, and the schedule as the last whole epoch left
    /// it; the gradients are then unspecified and `Dropout` has drawn that batch's masks. The
    /// buffers and counters are those the layers list when `fit` starts (a layer that swaps
    /// a buffer for a new tensor keeps the new one), and `fit` keeps a copy of them while it
    /// trains; a buffer that the batch wrote (which raises its `version`) is put back, its
    /// `version` raised again. A checkpoint that cannot be saved throws after its epoch, whose
    /// updates and schedule step are kept.
    ///
    /// `fit` records gradients for its training (and runs `progress` and `beforeStep` so)
    /// even where recording is off: inside `withoutGradientRecording(_:)`, or in a task
    /// started there, which inherits that setting.
    ///
    /// `penalties` are added to the loss and the gradients after every backward pass (and
    /// included in the reported loss). `progress` is called after every epoch. `beforeStep`,
    /// when given, is called before every update with the batch's loss (penalties included)
    /// and its sample count, after everything else in the step that can throw; an error it
    /// throws stops `fit` before that update (data-parallel training agrees across processes
    /// there).
    ///
    /// With the library's optimizers, no penalties and no `beforeStep`, on the fused path,
    /// each step is `accumulateParameterGradients(_:thenStep:)`: each `Linear`'s weight
    /// without an `onGradientAccumulated` hook takes its step in the matrix product that
    /// computes its gradient, with the parameters of `optimizer.step()` bit for bit, but those
    /// weights' gradients left unspecified during an epoch. The last batch of each epoch stores
    /// every gradient and steps as usual, so that after each epoch (in `progress`, and after
    /// `fit`) every parameter's gradient is its last batch's.
    @discardableResult
    public func fit(_ inputs: Tensor, labels: [Int32], loss: some Loss = SoftmaxCrossEntropy(),
                    optimizer: some Optimizer, schedule: (any LearningRateSchedule)? = nil,
                    epochs: Int, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                    seed: UInt64 = 0, penalties: [Penalty] = [], checkpoints: Checkpointing? = nil,
                    resumingFrom checkpointPath: String? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil,
                    beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)? = nil) throws
        -> [Float]
    {
        let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: batchSize,
                                         shuffle: shuffle, dropLast: dropLast, seed: seed)
        let outputShape = try checkTrainingBatches(of: loader, requestedBatchSize: batchSize)
        require(outputShape.count == 1,
                "Model.fit: the model's output for each sample has shape \(outputShape), not [classes]: labels need one row of class scores per sample")
        try checkLabels(labels, classes: outputShape[0])
        return try train(loader, towards: LabelObjective(loss: loss), optimizer: optimizer,
                         schedule: schedule, epochs: epochs, penalties: penalties,
                         checkpoints: checkpoints, resumingFrom: checkpointPath,
                         progress: progress, beforeStep: beforeStep)
    }

    /// Trains the model to predict `targets` (`[samples, ...]`, one row per sample, each of
    /// the shape of the model's output for one sample) from `inputs`: regression, with
    /// `MeanSquaredError` by default, or any `TargetLoss` (`L1Loss`, `HuberLoss`,
    /// `BinaryCrossEntropyWithLogits`, a `CustomLoss` written with operations). Returns the
    /// mean loss of each epoch it trained. The loader gathers each batch's rows of the targets
    /// with its inputs; everything else (schedule, penalties, checkpoints and resuming,
    /// progress, `beforeStep`, gradient recording, the errors) is as in `fit(_:labels:...)`,
    /// with "labels" read as "rows of targets". The model's output and the targets must have
    /// the same shape per sample.
    ///
    /// ```swift
    /// let model = Model { Linear(1, 64); Tanh(); Linear(64, 1) }
    /// try model.fit(x, targets: y, loss: HuberLoss(delta: 0.5), optimizer: Adam(parameters:
    ///               model.parameters), epochs: 100, batchSize: 32)   // x, y: [N, 1]
    /// ```
    @discardableResult
    public func fit(_ inputs: Tensor, targets: Tensor, loss: some TargetLoss = MeanSquaredError(),
                    optimizer: some Optimizer, schedule: (any LearningRateSchedule)? = nil,
                    epochs: Int, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                    seed: UInt64 = 0, penalties: [Penalty] = [], checkpoints: Checkpointing? = nil,
                    resumingFrom checkpointPath: String? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil,
                    beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)? = nil) throws
        -> [Float]
    {
        let loader = try MiniBatchLoader(inputs: inputs, targets: targets, batchSize: batchSize,
                                         shuffle: shuffle, dropLast: dropLast, seed: seed)
        let outputShape = try checkTrainingBatches(of: loader, requestedBatchSize: batchSize)
        require(outputShape.elementsEqual(targets.shape.dropFirst()),
                "Model.fit: the model's output for each sample has shape \(outputShape) but the targets' rows have shape \(Array(targets.shape.dropFirst())) (targets of shape \(targets.shape)); they must be the same")
        return try train(loader, towards: TargetObjective(loss: loss), optimizer: optimizer,
                         schedule: schedule, epochs: epochs, penalties: penalties,
                         checkpoints: checkpoints, resumingFrom: checkpointPath,
                         progress: progress, beforeStep: beforeStep)
    }

    /// Runs one sample of zeros through the layers, one by one (those of nested models too),
    /// in evaluation mode (which moves no running statistics and draws no dropout masks) to
    /// learn each layer's input shape, and throws `DeepLearningError.batchTooSmall` when a
    /// `Function` cannot train on the loader's smallest batch: one of the model's, asked
    /// before it runs, or one that a layer written from operations calls, asked as it runs
    /// (`TrainingBatchProbe`). A check that stops in a layer prints `checkContext`'s text
    /// first (`RequireContext`). Returns the shape of the model's output for one sample.
    private func checkTrainingBatches(of loader: MiniBatchLoader, requestedBatchSize: Int) throws
        -> [Int]
    {
        let probe = TrainingBatchProbe(batch: loader.lastBatchSize)
        func requireTrainable() throws {
            guard let (layer, needs) = probe.firstTooSmall else { return }
            throw DeepLearningError.batchTooSmall(
                layer: layer, needs: needs, batch: probe.batch, samples: loader.sampleCount,
                batchSize: requestedBatchSize)
        }
        // `path`: the layer's position, named as in saved files ("2", "1.0" in a nested model).
        func output(of layer: any Layer, at path: String, for input: Tensor) throws -> Tensor {
            if let model = layer as? Model {
                return try model.layers.enumerated().reduce(input) { input, layer in
                    let index = "\(layer.offset)"
                    return try output(of: layer.element,
                                      at: path.isEmpty ? index : "\(path).\(index)", for: input)
                }
            }
            return try RequireContext.$current.withValue(
                checkContext(layer: layer, at: path, input: input, loader: loader)
            ) {
                if let function = layer as? any Function {
                    probe.ask(function, input: input)
                    try requireTrainable()
                }
                let output = withoutGradientRecording { layer(input) }
                try requireTrainable()
                return output
            }
        }
        let sample = Tensor(shape: [1] + loader.inputs.shape.dropFirst())
        let output = try TrainingBatchProbe.$current.withValue(probe) {
            try inMode(training: false) { try output(of: self, at: "", for: sample) }
        }
        return Array(output.shape.dropFirst())
    }

    /// What a check that stops in `layer` (at `path`) during `checkTrainingBatches` is read
    /// in: the layer's position and the shapes of the user's data that reach it, before the
    /// layer's own message about `input`, the check's one sample.
    private func checkContext(layer: any Layer, at path: String, input: Tensor,
                              loader: MiniBatchLoader) -> String {
        let sampleShape = Array(input.shape.dropFirst())
        let batchRows = (input.shape.first ?? 1) * loader.batchSize
        return "Model.fit: layer \(path) of the model, \(layer), cannot take what the inputs of shape \(loader.inputs.shape) give it: samples of shape \(sampleShape), batches of shape \([batchRows] + sampleShape); checked on one sample, the layer says: "
    }

    /// `fit`'s training towards `objective`, from the checkpoint at `checkpointPath` when
    /// given: trains the epochs after the checkpoint's through epoch `epochs` and returns
    /// their losses.
    private func train(_ loader: MiniBatchLoader, towards objective: some TrainingObjective,
                       optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                       epochs: Int, penalties: [Penalty], checkpoints: Checkpointing?,
                       resumingFrom checkpointPath: String?,
                       progress: ((TrainingProgress) -> Void)?,
                       beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)?) throws
        -> [Float]
    {
        require(epochs >= 0, "Model.fit: epochs \(epochs) must not be negative")
        requireSchedule(schedule, setting: optimizer, in: "Model.fit")
        requireTrainsSomeParameter(optimizer)
        try checkpoints?.checkBeforeTraining()
        let finished = try checkpointPath.map {
            try restoreCheckpoint(from: $0, optimizer: optimizer, schedule: schedule,
                                  loader: loader, epochs: epochs)
        } ?? 0
        return try withGradientRecording {
            try inMode(training: true) {
                try trainEpochs(loader, towards: objective, optimizer: optimizer,
                                schedule: schedule, epochsAfter: finished, through: epochs,
                                penalties: penalties, checkpoints: checkpoints,
                                progress: progress, beforeStep: beforeStep)
            }
        }
    }

    /// Stops with a message when the model has parameters and `optimizer` updates none of
    /// them (an optimizer made for another model): `fit` would run every step and change
    /// nothing. An optimizer of some of them trains those and leaves the rest frozen; one that
    /// also updates tensors outside the model (a learnable scale in a `CustomLoss`) updates
    /// them too, as PyTorch's optimizers take any tensors.
    private func requireTrainsSomeParameter(_ optimizer: some Optimizer) {
        let updated = Set(optimizer.parameters.map(ObjectIdentifier.init))
        let parameters = self.parameters
        guard !parameters.isEmpty,
              !parameters.contains(where: { updated.contains(ObjectIdentifier($0)) })
        else { return }
        let own = Set(parameters.map(ObjectIdentifier.init))
        let names = namedStateTensors.filter { own.contains(ObjectIdentifier($0.tensor)) }
        let others = optimizer.parameters.count
        stop("Model.fit: the optimizer \(type(of: optimizer)) updates none of the model's \(parameters.count) parameters (\(quotedList(names.map(\.name)))) but \(others) other tensor\(others == 1 ? "" : "s"), so training would change nothing; make it with this model's parameters (model.parameters, or some of them to train only those)")
    }

    /// Trains the epochs after epoch `finished` through epoch `epochs` and returns their
    /// losses.
    private func trainEpochs(_ loader: MiniBatchLoader, towards objective: some TrainingObjective,
                             optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                             epochsAfter finished: Int, through epochs: Int,
                             penalties: [Penalty], checkpoints: Checkpointing?,
                             progress: ((TrainingProgress) -> Void)?,
                             beforeStep: ((_ loss: Float, _ samples: Int) throws -> Void)?) throws
        -> [Float]
    {
        // Grown epoch by epoch: `epochs` may be larger than what could be reserved up front.
        var history: [Float] = []
        // The optimizer when the weights may take their steps in their gradients' products
        // (see `fit`): nothing may read or change a gradient between backward and step, and
        // some weight's product at this batch size is one that takes it.
        let stepsInProducts = penalties.isEmpty && beforeStep == nil
            && fusedSteps?.someWeightStepsInProduct(batch: loader.batchSize) == true
            ? optimizer as? any StepsInProduct : nil
        // A batch that throws before its update (a loss that is not finite or that throws,
        // `beforeStep`) leaves every layer's buffers and counters as it found them.
        let layerState = RememberedLayerState(of: layerTree)
        // The batch sizes that ran on the graph with their layers' positions named
        // (`graphOutput`): the full batches and a smaller last one, at most two.
        var positionedRows: [Int] = []
        for epoch in stride(from: finished + 1, through: epochs, by: 1) {
            var lossSum = 0.0
            var samples = 0
            let steps = fusedSteps
            try objective.forEachBatch(of: loader) { batch, batchInputs, batchTargets in
                layerState.remember()
                func requireFinite(_ value: Float) throws {
                    guard value.isFinite else {
                        throw DeepLearningError.nonFiniteLoss(value: value, epoch: epoch,
                                                              batch: batch + 1)
                    }
                }
                let rows = batchInputs.shape[0]
                let total: Float
                do {
                    // The fused passes where every layer has them, else the graph.
                    let output = steps?.forward(batchInputs)
                        ?? graphOutput(batchInputs, positionedRows: &positionedRows)
                    let value = try objective.forward(output, batchTargets)
                    try requireFinite(value)
                    optimizer.zeroGrad()
                    if let steps {
                        steps.accumulateParameterGradients(
                            objective.backward(),
                            updating: batch + 1 < loader.batchCount ? stepsInProducts : nil)
                    } else {
                        output.backward(objective.backward())
                    }
                    total = penalties.reduce(value) { $0 + $1.apply() }
                    try requireFinite(total)
                    try beforeStep?(total, rows)
                } catch {
                    layerState.restore()
                    throw error
                }
                optimizer.step()
                lossSum += Double(total) * Double(rows)
                samples += rows
            }
            history.append(Float(lossSum / Double(samples)))
            schedule?.step()
            if let checkpoints, epoch % checkpoints.interval == 0 || epoch == epochs {
                try checkpoints.save(self, optimizer: optimizer, schedule: schedule,
                                     epoch: epoch, loader: loader)
            }
            progress?(TrainingProgress(epoch: epoch, epochs: epochs, loss: history.last!))
        }
        return history
    }

    /// `fit`'s forward pass on the graph for `batchInputs`: the first batch of each size in
    /// this training (the full batches, a smaller last one) runs each layer in its position,
    /// as a new sample shape does, so that a layer of yours that takes one batch size but not
    /// another is named by it; the other batches run as `run(_:for:)` does.
    private func graphOutput(_ batchInputs: Tensor, positionedRows: inout [Int]) -> Tensor {
        let rows = batchInputs.shape[0]
        guard !positionedRows.contains(rows), RequireContext.current == nil else {
            return run(batchInputs, for: "Model.fit")
        }
        positionedRows.append(rows)
        return run(batchInputs,
                   at: LayerPosition(method: "Model.fit", input: batchInputs.shape, path: ""))
    }
}

/// What `Model.fit` reports after each epoch.
///
/// ```swift
/// try model.fit(x, labels: y, optimizer: optimizer, epochs: 100, batchSize: 32) { progress in
///     if progress.epoch % 10 == 0 { print(progress.epoch, progress.epochs, progress.loss) }
/// }
/// ```
public struct TrainingProgress: Sendable {
    /// The epoch just finished, from 1.
    public let epoch: Int
    /// The number of epochs of the whole run.
    public let epochs: Int
    /// The mean loss over this epoch's samples.
    public let loss: Float

    /// The progress after epoch `epoch` of `epochs`, whose mean loss was `loss` (for training
    /// loops that report as `fit` does, such as data-parallel training's).
    public init(epoch: Int, epochs: Int, loss: Float) {
        self.epoch = epoch
        self.epochs = epochs
        self.loss = loss
    }
}
