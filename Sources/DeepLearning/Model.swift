import CKernels

/// A sequence of layers applied one after another: the article's `Model`.
///
/// ```swift
/// let model = Model {
///     Linear(2, 100)
///     ReLU()
///     Linear(100, 3)
/// }
/// model.initializeParameters(seed: 1)
/// let optimizer = SGD(parameters: model.parameters, learningRate: 0.1, momentum: 0.9)
/// let history = try model.fit(inputs, labels: labels, optimizer: optimizer,
///                             epochs: 200, batchSize: 20)
/// let classes = model.predict(inputs)
/// ```
public final class Model {
    @exclusivity(unchecked) public private(set) var layers: [any Function] {
        didSet { steps = FusedSteps(layers) }
    }
    /// `layers` as the forward and backward passes run them.
    @exclusivity(unchecked) private var steps: FusedSteps

    /// Training (true, the default) or evaluation mode, passed on to every layer (dropout
    /// drops only in training). `fit` trains in training mode; `predict`, `probabilities` and
    /// `accuracy` evaluate in evaluation mode; each restores the mode it found.
    public var isTraining = true {
        didSet { for layer in layers { layer.setTraining(isTraining) } }
    }

    /// A model of `layers`, in order.
    public init(_ layers: [any Function] = []) {
        self.layers = layers
        steps = FusedSteps(layers)
        for layer in layers { layer.setTraining(isTraining) }
    }

    /// A model of the layers the closure lists, in order.
    public convenience init(@ModelBuilder _ layers: () -> [any Function]) {
        self.init(layers())
    }

    /// Appends a layer.
    public func add(_ layer: any Function) {
        layer.setTraining(isTraining)
        layers.append(layer)
    }

    /// `body`'s result with the model in `isTraining` mode, then the previous mode again.
    private func inMode<T>(training: Bool, _ body: () throws -> T) rethrows -> T {
        let previous = isTraining
        isTraining = training
        defer { isTraining = previous }
        return try body()
    }

    /// All layers' parameters, in layer order.
    public var parameters: [Tensor] { layers.flatMap(\.parameters) }

    /// Redraws every layer's parameters from its initializers, reproducibly from `seed`.
    public func initializeParameters(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for layer in layers { layer.initializeParameters(using: &generator) }
    }

    /// The network's output (`[batch, outputs]`) for `input` (`[batch, features]`). The result
    /// is the last layer's buffer: copy what you keep beyond the next call.
    public func forward(_ input: Tensor) -> Tensor {
        steps.forward.reduce(input) { $1.forward($0) }
    }

    /// Back-propagates dLoss/dOutput through every layer (accumulating parameter gradients)
    /// and returns dLoss/dInput.
    @discardableResult
    public func backward(_ outputGradient: Tensor) -> Tensor {
        steps.backward.reduce(outputGradient) { $1.backward($0) }
    }

    /// Accumulates every layer's parameter gradients from dLoss/dOutput, skipping the input
    /// gradient of the first layer, which training does not need.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        let gradient = steps.backward.dropLast().reduce(outputGradient) { $1.backward($0) }
        steps.backward.last?.accumulateParameterGradients(gradient)
    }

    /// Trains for `epochs` passes over the data in shuffled mini-batches and returns the mean
    /// loss of each epoch it trained. Each step: zero the gradients, forward, loss, backward,
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
    /// train on the smallest batch (`BatchNorm` on a last batch of one sample: `dropLast`
    /// leaves that batch out, as PyTorch's `drop_last`), or the loss becomes NaN or infinite
    /// (the parameters then keep their values from before that batch). All but the last are
    /// found before training, with the parameters and running statistics unchanged.
    /// `penalties` are added to the loss and the gradients after every backward pass (and
    /// included in the reported loss). `progress` is called after every epoch.
    @discardableResult
    public func fit(_ inputs: Tensor, labels: [Int32], loss: some Loss = SoftmaxCrossEntropy(),
                    optimizer: some Optimizer, schedule: (any LearningRateSchedule)? = nil,
                    epochs: Int, batchSize: Int, shuffle: Bool = true, dropLast: Bool = false,
                    seed: UInt64 = 0, penalties: [Penalty] = [], checkpoints: Checkpointing? = nil,
                    resumingFrom checkpointPath: String? = nil,
                    progress: ((TrainingProgress) -> Void)? = nil) throws -> [Float] {
        let loader = try MiniBatchLoader(inputs: inputs, labels: labels, batchSize: batchSize,
                                         shuffle: shuffle, dropLast: dropLast, seed: seed)
        let outputShape = try checkTrainingBatches(of: loader, requestedBatchSize: batchSize)
        require(outputShape.count == 1,
                "Model.fit: the model's output of shape \([1] + outputShape) is not [batch, classes]")
        try checkLabels(labels, classes: outputShape[0])
        return try train(loader, towards: LabelObjective(loss: loss), optimizer: optimizer,
                         schedule: schedule, epochs: epochs, penalties: penalties,
                         checkpoints: checkpoints, resumingFrom: checkpointPath,
                         progress: progress)
    }

    /// Trains the model to predict `targets` (`[samples, ...]`, one row per sample, each of
    /// the shape of the model's output for one sample) from `inputs`: regression, with
    /// `MeanSquaredError` by default, or any `TargetLoss` (`L1Loss`, `HuberLoss`,
    /// `BinaryCrossEntropyWithLogits`, a `CustomLoss` written with operations). Returns the
    /// mean loss of each epoch it trained. The loader gathers each batch's rows of the targets
    /// with its inputs; everything else (schedule, penalties, checkpoints and resuming,
    /// progress, the errors) is as in `fit(_:labels:...)`, with "labels" read as "rows of
    /// targets". The model's output and the targets must have the same shape per sample.
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
                    progress: ((TrainingProgress) -> Void)? = nil) throws -> [Float] {
        let loader = try MiniBatchLoader(inputs: inputs, targets: targets, batchSize: batchSize,
                                         shuffle: shuffle, dropLast: dropLast, seed: seed)
        let outputShape = try checkTrainingBatches(of: loader, requestedBatchSize: batchSize)
        require(outputShape.elementsEqual(targets.shape.dropFirst()),
                "Model.fit: the model's output of shape \([1] + outputShape) per sample does not fit the targets of shape \(targets.shape)")
        return try train(loader, towards: TargetObjective(loss: loss), optimizer: optimizer,
                         schedule: schedule, epochs: epochs, penalties: penalties,
                         checkpoints: checkpoints, resumingFrom: checkpointPath,
                         progress: progress)
    }

    /// Runs one sample of zeros through the layers, one by one, in evaluation mode (which
    /// moves no running statistics and draws no dropout masks) to learn each layer's input
    /// shape, and throws `DeepLearningError.batchTooSmall` when a layer cannot train on the
    /// loader's smallest batch. Returns the shape of the model's output for one sample.
    private func checkTrainingBatches(of loader: MiniBatchLoader, requestedBatchSize: Int) throws
        -> [Int]
    {
        let smallest = loader.lastBatchSize
        let sample = Tensor(shape: [1] + loader.inputs.shape.dropFirst())
        let output = try inMode(training: false) {
            try layers.reduce(sample) { input, layer in
                let needs = layer.smallestTrainingBatch(sampleShape: Array(input.shape.dropFirst()))
                guard smallest >= needs else {
                    throw DeepLearningError.batchTooSmall(
                        layer: "\(layer)", needs: needs, batch: smallest,
                        samples: loader.sampleCount, batchSize: requestedBatchSize)
                }
                return layer.forward(input)
            }
        }
        return Array(output.shape.dropFirst())
    }

    /// `fit`'s training towards `objective`, from the checkpoint at `checkpointPath` when
    /// given: trains the epochs after the checkpoint's through epoch `epochs` and returns
    /// their losses.
    private func train(_ loader: MiniBatchLoader, towards objective: some TrainingObjective,
                       optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                       epochs: Int, penalties: [Penalty], checkpoints: Checkpointing?,
                       resumingFrom checkpointPath: String?,
                       progress: ((TrainingProgress) -> Void)?) throws -> [Float] {
        require(epochs >= 0, "Model.fit: epochs \(epochs) must not be negative")
        require(schedule == nil || schedule!.optimizer === optimizer,
                "Model.fit: the schedule sets another optimizer's learning rate")
        let finished = try checkpointPath.map {
            try restoreCheckpoint(from: $0, optimizer: optimizer, schedule: schedule,
                                  loader: loader, epochs: epochs)
        } ?? 0
        return try inMode(training: true) {
            try trainEpochs(loader, towards: objective, optimizer: optimizer, schedule: schedule,
                            epochsAfter: finished, through: epochs, penalties: penalties,
                            checkpoints: checkpoints, progress: progress)
        }
    }

    /// Trains the epochs after epoch `finished` through epoch `epochs` and returns their
    /// losses.
    private func trainEpochs(_ loader: MiniBatchLoader, towards objective: some TrainingObjective,
                             optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                             epochsAfter finished: Int, through epochs: Int,
                             penalties: [Penalty], checkpoints: Checkpointing?,
                             progress: ((TrainingProgress) -> Void)?) throws -> [Float] {
        // Grown epoch by epoch: `epochs` may be larger than what could be reserved up front.
        var history: [Float] = []
        for epoch in stride(from: finished + 1, through: epochs, by: 1) {
            var lossSum = 0.0
            var samples = 0
            try objective.forEachBatch(of: loader) { batch, batchInputs, batchTargets in
                let output = forward(batchInputs)
                func requireFinite(_ value: Float) throws {
                    guard value.isFinite else {
                        throw DeepLearningError.nonFiniteLoss(value: value, epoch: epoch,
                                                              batch: batch + 1)
                    }
                }
                let value = try objective.forward(output, batchTargets)
                try requireFinite(value)
                optimizer.zeroGrad()
                accumulateParameterGradients(objective.backward())
                let total = penalties.reduce(value) { $0 + $1.apply() }
                try requireFinite(total)
                optimizer.step()
                let rows = batchInputs.shape[0]
                lossSum += Double(total) * Double(rows)
                samples += rows
            }
            history.append(Float(lossSum / Double(samples)))
            schedule?.step()
            if let checkpoints, epoch % checkpoints.interval == 0 || epoch == epochs {
                try save(to: checkpoints.modelPath)
                try saveCheckpoint(to: checkpoints.checkpointPath, optimizer: optimizer,
                                   schedule: schedule, epoch: epoch, loader: loader)
            }
            progress?(TrainingProgress(epoch: epoch, epochs: epochs, loss: history.last!))
        }
        return history
    }

    /// The most likely class of each row of `inputs`.
    public func predict(_ inputs: Tensor) -> [Int32] {
        let output = inMode(training: false) { forward(inputs) }
        let rows = output.shape[0]
        return [Int32](unsafeUninitializedCapacity: rows) { classes, initialized in
            ck_argmax_rows(Int64(rows), Int64(output.shape[1]), output.value,
                           Int64(output.shape[1]), classes.baseAddress)
            initialized = rows
        }
    }

    /// The softmax of the network's output for each row of `inputs`: class probabilities
    /// (a new tensor).
    public func probabilities(_ inputs: Tensor) -> Tensor {
        let output = inMode(training: false) { forward(inputs) }
        let probabilities = Tensor(shape: output.shape)
        ck_softmax(Int64(output.shape[0]), Int64(output.shape[1]), output.value,
                   probabilities.value)
        return probabilities
    }

    /// The fraction of rows of `inputs` whose predicted class is the label.
    /// Throws when the data set is empty or the numbers of samples and labels differ.
    public func accuracy(_ inputs: Tensor, labels: [Int32]) throws -> Double {
        guard inputs.shape.first == labels.count else {
            throw DeepLearningError.countMismatch(samples: inputs.shape.first ?? 0,
                                                  labels: labels.count)
        }
        guard !labels.isEmpty else { throw DeepLearningError.emptyDataSet }
        let correct = zip(predict(inputs), labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(correct) / Double(labels.count)
    }
}

/// What `Model.fit` reports after each epoch.
public struct TrainingProgress: Sendable {
    /// The epoch just finished, from 1.
    public let epoch: Int
    /// The number of epochs of the whole run.
    public let epochs: Int
    /// The mean loss over this epoch's samples.
    public let loss: Float
}

/// Builds the layer list of `Model { ... }`.
@resultBuilder
public enum ModelBuilder {
    public static func buildBlock(_ layers: any Function...) -> [any Function] { layers }
}
