import CKernels
import Synchronization

/// A sequence of layers applied one after another: the article's `Model`, and PyTorch's
/// `nn.Sequential`. A model is a layer itself, so models nest; its layers may be any `Layer`.
///
/// `fit`, `forward`, `predict`, `probabilities` and `accuracy` take the fused path (the
/// layers' own forward and backward passes, each `Linear` + `ReLU` pair as one GEMM, each
/// `Conv2D` + `ReLU` pair with the ReLU in the convolution's passes) when
/// every layer is a `Function` and none appears twice, and the graph (`callAsFunction(_:)`
/// recorded, `backward(_:)` on its output) otherwise; both give the same results bit for bit
/// where both apply.
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
public final class Model: Layer {
    /// The layers in the order the forward pass runs them (index i is named "i" in saved
    /// files); `add(_:)` appends one.
    @exclusivity(unchecked) public private(set) var layers: [any Layer] {
        didSet { steps = FusedSteps(layers) }
    }
    /// `layers` as the fused forward and backward passes run them; nil when a layer is not a
    /// `Function` (a `Model`, a layer written from operations), which the graph then runs.
    @exclusivity(unchecked) private var steps: FusedSteps?
    /// Whether `fit`, `forward` and `predict` may take the fused path (tests turn it off to
    /// compare it with the graph on the same model).
    var allowsFusedPath = true
    /// The shape of one sample (the input's shape without the batch dimension) that the
    /// layers have run on with their positions named (`LayerPosition`), and the
    /// `layerStructureGeneration` they ran in: inputs of that shape run without while no layer
    /// has been added since, their layers known to fit it. Nil before the first run.
    private var checked: (sampleShape: [Int], generation: Int)?
    /// How many calls of `run(_:for:)` on this model are under way: one made while another
    /// runs (the model called from below itself) walks the `layerTree`, which stops with a
    /// message at a cycle (one made by assigning a layer's property after `add`), where the
    /// run would never end. A model that calls itself without being below itself (through a
    /// closure, which reflection does not see) runs on, walking its layers at each such call.
    private var runsUnderWay = 0

    /// Training (true, the default) or evaluation mode, passed on to every layer (dropout
    /// drops only in training), nested ones too. `fit` trains in training mode; `predict`,
    /// `probabilities` and `accuracy` evaluate in evaluation mode; each restores the mode it
    /// found.
    public var isTraining = true {
        didSet { setTrainingOfSublayers() }
    }

    /// A model of `layers`, in order.
    public init(_ layers: [any Layer] = []) {
        self.layers = layers
        steps = FusedSteps(layers)
        setTrainingOfSublayers()
    }

    /// A model of the layers the closure lists, in order (see `ModelBuilder`: `if`, `for` and
    /// arrays of layers are allowed).
    public convenience init(@ModelBuilder _ layers: () -> [any Layer]) {
        self.init(layers())
    }

    /// The layers' descriptions: "Model { Linear(2 → 3); ReLU }".
    public var description: String {
        "Model { \(layers.map(\.description).joined(separator: "; ")) }"
    }

    /// Appends a layer. Stops with a message when the layer is this model or holds it, however
    /// deep (in a nested model, or in a layer of your own): the model would be among its own
    /// layers, and running it would never end.
    public func add(_ layer: any Layer) {
        requireNoCycle(adding: layer)
        layers.append(layer)
        layerStructureGeneration.add(1, ordering: .relaxed)
        setTrainingOfSublayers()
    }

    /// Stops with a message naming the cycle when `layer`, added as the next layer, is this
    /// model or holds it at some path of its `layerTree` (a nested model's, or a layer of
    /// yours that keeps a model). Of the model's own calls only `add` can make a cycle: the
    /// layers given to `init` cannot hold the model being made.
    private func requireNoCycle(adding layer: any Layer) {
        let index = layers.count
        guard let path = layer.layerTree(for: "Model.add").first(where: { $0.layer === self })?
            .path else { return }
        stop(path.isEmpty
             ? "Model.add: the layer added as layer \(index) is the model itself; with it, "
                + cycleMessage(holder: self, at: "\(index)")
             : "Model.add: the layer added as layer \(index), \(layer), holds this model at its path \(path); with it, "
                + cycleMessage(holder: self, at: "\(index).\(path)"))
    }

    /// The layers, named by their index: "0", "1", ... (PyTorch's `nn.Sequential`).
    public var namedSublayers: [(name: String, layer: any Layer)] {
        layers.enumerated().map { (name: String($0.offset), layer: $0.element) }
    }

    /// Sets `isTraining` (as a sub-layer of another model).
    public func setTraining(_ isTraining: Bool) { self.isTraining = isTraining }

    private func setTrainingOfSublayers() {
        for (_, layer) in layerTree.dropFirst() {
            layer.setTraining(isTraining)
        }
    }

    /// `body`'s result with the model in `isTraining` mode, then the previous mode again.
    private func inMode<T>(training: Bool, _ body: () throws -> T) rethrows -> T {
        let previous = isTraining
        isTraining = training
        defer { isTraining = previous }
        return try body()
    }

    /// Redraws the parameters of every layer, nested ones too (in the order of `layerTree`),
    /// from its initializers, reproducibly from `seed`.
    public func initializeParameters(seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        for (_, layer) in layerTree { layer.initializeParameters(using: &generator) }
    }

    /// The layers applied in order, as recorded operations: a model is a layer of another.
    /// A layer that does not fit its input stops with a message naming its position ("layer
    /// 2", "1.0" in a nested model, as in saved files), as `forward(_:)`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        run(input, for: "Model.callAsFunction")
    }

    /// `callAsFunction(_:)`, named `method` in the message of a layer that does not fit: on a
    /// sample shape it has not run on, each layer in its `LayerPosition`, unless a check of
    /// another's (`fit`'s, or a model's around a layer of yours that holds this one) already
    /// gives the context.
    private func run(_ input: Tensor, for method: String) -> Tensor {
        runsUnderWay += 1
        defer { runsUnderWay -= 1 }
        if runsUnderWay > 1 {
            RequireContext.$current.withValue(nil) { _ = layerTree(for: method) }
        }
        guard isNewSampleShape(input), RequireContext.current == nil else {
            return layers.reduce(input) { $1($0) }
        }
        return run(input, at: LayerPosition(method: method, input: input.shape, path: ""))
    }

    /// The layers applied in order, each in its position below `position`; a model among them
    /// continues the path ("1.0").
    private func run(_ input: Tensor, at position: LayerPosition) -> Tensor {
        let generation = layerStructureGeneration.load(ordering: .relaxed)
        let output = layers.enumerated().reduce(input) { input, layer in
            let inner = position.entering(layer.offset)
            if let model = layer.element as? Model { return model.run(input, at: inner) }
            let context = inner.context(of: layer.element, given: input)
            return RequireContext.$current.withValue(context) { layer.element(input) }
        }
        checked = (Array(input.shape.dropFirst()), generation)
        return output
    }

    /// Whether `input`'s sample shape differs from the checked one, or a layer was added
    /// (to any model) since that check (a scalar input has no sample shape, and runs
    /// unchecked).
    private func isNewSampleShape(_ input: Tensor) -> Bool {
        guard let checked, checked.generation == layerStructureGeneration.load(ordering: .relaxed)
        else { return !input.shape.isEmpty }
        return !input.shape.isEmpty && !input.shape.dropFirst().elementsEqual(checked.sampleShape)
    }

    /// The fused passes, when every layer is a `Function` and they are allowed.
    private var fusedSteps: FusedSteps? { allowsFusedPath ? steps : nil }

    /// The network's output for `input`, nothing recorded: through the fused forward passes
    /// when every layer is a `Function` (the result is then the last layer's buffer: copy what
    /// you keep beyond the next call), else through `callAsFunction(_:)`. It runs in the
    /// model's current mode, `isTraining` (true unless set): in training mode `Dropout` drops
    /// and `BatchNorm` normalizes with the batch's statistics and updates its running ones,
    /// as PyTorch's `model(x)` after `model.train()`. To evaluate, set `isTraining = false`
    /// first, or use `predict`, `probabilities` or `accuracy`, which evaluate.
    ///
    /// A layer that does not fit its input stops with a message naming its position ("layer
    /// 2", "1.0" in a nested model, as in saved files), the shape of `input` and the shape that
    /// reaches the layer, before the layer's own message. The positions are followed on the
    /// first input of each sample shape (the shape without the batch dimension) only, and
    /// again after a layer is added to any model (it may be nested in this one, or kept by a
    /// layer of yours): inputs of a shape the layers have run on cost nothing more.
    public func forward(_ input: Tensor) -> Tensor { forward(input, for: "Model.forward") }

    /// `forward(_:)`, named `method` in the message of a layer that does not fit.
    private func forward(_ input: Tensor, for method: String) -> Tensor {
        guard let steps = fusedSteps else {
            return withoutGradientRecording { run(input, for: method) }
        }
        guard isNewSampleShape(input) else { return steps.forward(input) }
        let generation = layerStructureGeneration.load(ordering: .relaxed)
        let position = LayerPosition(method: method, input: input.shape, path: "")
        let output = steps.forward(input) { index, layer, input in
            position.entering(index).context(of: layer, given: input)
        }
        checked = (Array(input.shape.dropFirst()), generation)
        return output
    }

    /// Back-propagates dLoss/dOutput of the last `forward(_:)` through every layer
    /// (accumulating parameter gradients, and running each parameter's
    /// `onGradientAccumulated` hooks once its gradient is complete) and returns dLoss/dInput.
    /// For models whose layers are all `Function`s; others differentiate through the graph:
    /// `model(x)`, then `backward(_:)` on its output.
    @discardableResult
    public func backward(_ outputGradient: Tensor) -> Tensor {
        requireFusedSteps(for: "backward").backward(outputGradient)
    }

    /// Accumulates every layer's parameter gradients from dLoss/dOutput, skipping the input
    /// gradient of the first layer, which training does not need. For models whose layers are
    /// all `Function`s, as `backward(_:)`.
    public func accumulateParameterGradients(_ outputGradient: Tensor) {
        requireFusedSteps(for: "accumulateParameterGradients").accumulateParameterGradients(
            outputGradient)
    }

    /// `accumulateParameterGradients(outputGradient)`, then `optimizer.step()`, with the same
    /// parameters bit for bit. With the library's optimizers (``SGD``, ``Adam``, ``AdamW``,
    /// ``RMSProp``, with every setting; not one of your own) it takes fewer passes over
    /// memory: each `Linear`'s weight whose gradient starts from zero (after `zeroGrad()`),
    /// that has no `onGradientAccumulated` hook and whose gradient's matrix product is large enough
    /// (`ck_sgemm_takes_step`) takes its step in that product, which then neither stores the
    /// gradient nor reads it back. The gradients of the weights that step so are left
    /// unspecified; the other parameters keep theirs. For models whose layers are all
    /// `Function`s, as `backward(_:)`.
    ///
    /// ```swift
    /// optimizer.zeroGrad()
    /// _ = try loss.forward(model.forward(x), labels: y)
    /// model.accumulateParameterGradients(loss.backward(), thenStep: optimizer)
    /// ```
    public func accumulateParameterGradients(_ outputGradient: Tensor,
                                             thenStep optimizer: any Optimizer) {
        requireFusedSteps(for: "accumulateParameterGradients").accumulateParameterGradients(
            outputGradient, updating: optimizer as? any StepsInProduct)
        optimizer.step()
    }

    /// The fused passes; stops with a message naming `method` when the model has none.
    private func requireFusedSteps(for method: String) -> FusedSteps {
        guard let steps = fusedSteps else {
            fatalError("Model.\(method) needs every layer to be a Function, none of them twice; differentiate model(x) with backward(_:) instead (the model: \(self))")
        }
        return steps
    }

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

    /// The most likely class of each row of `inputs`, evaluated in evaluation mode: the index
    /// of the row's largest score, the smallest such index on ties. A NaN score counts as
    /// smaller than every number (PyTorch's `argmax` picks it instead), so a row of only NaN
    /// gives class 0.
    public func predict(_ inputs: Tensor) -> [Int32] {
        mostLikelyClasses(classScores(of: inputs, for: "predict"))
    }

    /// The index of the largest score of each row of `output`, `[samples, classes]`.
    private func mostLikelyClasses(_ output: Tensor) -> [Int32] {
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
        let output = classScores(of: inputs, for: "probabilities")
        let probabilities = Tensor(shape: output.shape)
        ck_softmax(Int64(output.shape[0]), Int64(output.shape[1]), output.value,
                   probabilities.value)
        return probabilities
    }

    /// The network's output for `inputs` in evaluation mode, after checking that it holds a
    /// row of class scores per sample, `[samples, classes]`; stops with a message naming
    /// `method` otherwise.
    private func classScores(of inputs: Tensor, for method: String) -> Tensor {
        let output = inMode(training: false) { forward(inputs, for: "Model.\(method)") }
        require(output.shape.count == 2 && output.shape[1] >= 1,
                "Model.\(method): the model's output has shape \(output.shape), not the class scores [samples, classes] that it needs")
        return output
    }

    /// The fraction of rows of `inputs` whose predicted class is the label.
    /// Throws when the data set is empty, the numbers of samples and labels differ, or a label
    /// is outside `0..<classes` (the model's output columns).
    public func accuracy(_ inputs: Tensor, labels: [Int32]) throws -> Double {
        guard inputs.shape.first == labels.count else {
            throw DeepLearningError.countMismatch(samples: inputs.shape.first ?? 0,
                                                  labels: labels.count)
        }
        guard !labels.isEmpty else { throw DeepLearningError.emptyDataSet }
        let output = classScores(of: inputs, for: "accuracy")
        try checkLabels(labels, classes: output.shape[1])
        let correct = zip(mostLikelyClasses(output), labels).reduce(0) { $0 + ($1.0 == $1.1 ? 1 : 0) }
        return Double(correct) / Double(labels.count)
    }
}

/// Counts the layers added to any model (`Model.add`): a model's check of a sample shape
/// holds only while it is unchanged, as a layer added anywhere may be below the model (in a
/// nested model, or in a model that a layer of yours keeps), which the model cannot tell
/// without walking its layers.
private let layerStructureGeneration = Atomic<Int>(0)

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

/// Builds the layer list of `Model { ... }`: layers, arrays of layers, `if`, `if`/`else` and
/// `for` loops.
///
/// ```swift
/// let model = Model {
///     Linear(2, 64)
///     for _ in 0..<blocks { ResidualBlock() }
///     if normalized { BatchNorm(features: 64) }
///     Linear(64, 3)
/// }
/// ```
@resultBuilder
public enum ModelBuilder {
    /// A layer on a line of its own.
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    /// An array of layers on a line of its own, in order.
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    /// The lines of a block, in order.
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    /// An `if` without `else`: its layers when the condition holds, else none.
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    /// The `if` branch of an `if`/`else`.
    public static func buildEither(first part: [any Layer]) -> [any Layer] { part }
    /// The `else` branch of an `if`/`else`.
    public static func buildEither(second part: [any Layer]) -> [any Layer] { part }
    /// A `for` loop: the layers of every iteration, in order.
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
}
