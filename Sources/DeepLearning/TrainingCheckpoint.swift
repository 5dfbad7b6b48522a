// Training checkpoints: what resuming training needs beyond the model's own file, in a
// safetensors file of its own, written and read by the same code as model files
// (SafeTensors.swift).
//
// The file's `__metadata__` holds `"format": "DeepLearning"`, `"content": "training
// checkpoint"`, the model's layers, a digest of the model's state, and the kinds and settings
// of the optimizer, the schedule and the loader, which resuming checks. Its tensors hold the
// state, which resuming restores:
//
//     epoch                          I64 []     epochs finished
//     optimizer.learning_rate        F32 []     the rate of the next step
//     optimizer.<name>.<index>       F32        per-parameter buffers (PyTorch's names:
//                                               momentum_buffer, exp_avg, exp_avg_sq,
//                                               max_exp_avg_sq with amsgrad, ...)
//     optimizer.step                 I64 []     steps taken (SGD, Adam, AdamW)
//     schedule.epoch                 I64 []     the schedule's epoch
//     schedule.<name>                F32, I64   a schedule's own buffers and counters, if any
//     loader.generator               I64 [4]    the shuffling generator's state (bit patterns)
//     loader.order                   I64 [n]    the last epoch's order of the n samples
//     model.<layer>.generator        I64 [4]    a layer's training generator (Dropout's)

/// Where and how often `Model.fit` saves a checkpoint: the model's file (`Model.save(to:)`,
/// which PyTorch loads as its own) and, beside it, the training checkpoint
/// (`Model.saveCheckpoint(to:optimizer:schedule:epoch:loader:)`), after every `interval`
/// epochs and after the last one. The two files are replaced together (`replaceFiles`): when
/// one of them cannot be written (a full disk), neither is replaced, so the pair on disk is
/// still the last one saved and training resumes from it; only a crash between the two
/// renames, or a failure of the second (which throws), leaves a pair that does not fit (new
/// model, old checkpoint), which resuming refuses (the checkpoint names the model's state it
/// was saved with). Before training, `fit` stops with a message when the two paths name one
/// file (the checkpoint would replace the model's file at every save), and throws when either
/// cannot be written (`checkReplaceable(at:)`).
///
/// ```swift
/// let checkpoints = Checkpointing(modelPath: "run.safetensors",
///                                 checkpointPath: "run.checkpoint.safetensors", every: 5)
/// try model.fit(x, labels: y, optimizer: optimizer, epochs: 100, batchSize: 32,
///               checkpoints: checkpoints)
/// ```
public struct Checkpointing: Sendable {
    /// Where the model is saved.
    public var modelPath: String
    /// Where the training checkpoint is saved.
    public var checkpointPath: String
    /// The epochs between two saves, at least 1: setting it below stops with a message.
    public var interval: Int {
        didSet { Checkpointing.requireInterval(interval) }
    }

    /// Saves the model to `modelPath` and the training checkpoint to `checkpointPath` after
    /// every `interval` epochs (at least 1) and after the last.
    public init(modelPath: String, checkpointPath: String, every interval: Int = 1) {
        Checkpointing.requireInterval(interval)
        self.modelPath = modelPath
        self.checkpointPath = checkpointPath
        self.interval = interval
    }

    /// Stops with a message unless `interval` is at least 1.
    private static func requireInterval(_ interval: Int) {
        require(interval >= 1, "Checkpointing: interval \(interval) must be at least 1")
    }

    /// What `fit` checks before training, so that a bad path costs no epoch: stops with a
    /// message when `modelPath` and `checkpointPath` name one file (the same entry of the same
    /// directory, once symbolic links, `.` and `..` are followed: `replacedEntry(of:)`), and
    /// throws what saving to either would throw for the path itself (`checkReplaceable(at:)`).
    func checkBeforeTraining() throws {
        let entry = replacedEntry(of: modelPath)
        require(entry != replacedEntry(of: checkpointPath),
                "Checkpointing: modelPath \"\(modelPath)\" and checkpointPath \"\(checkpointPath)\" name one file, \(entry); the checkpoint would replace the model's file at every save")
        try checkReplaceable(at: modelPath)
        try checkReplaceable(at: checkpointPath)
    }

    /// Saves `model` and its training checkpoint together: neither file is replaced unless
    /// both were written (`replaceFiles`).
    func save(_ model: Model, optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
              epoch: Int, loader: MiniBatchLoader) throws {
        try replaceFiles([
            (modelPath, model.fileImage()),
            (checkpointPath, model.checkpointImage(optimizer: optimizer, schedule: schedule,
                                                   epoch: epoch, loader: loader)),
        ])
    }
}

extension Model {
    /// Writes what resuming training needs beyond the model's file to `path`: the optimizer's
    /// learning rate, buffers (momentum buffers, moments, running averages) and step count,
    /// the schedule's epoch, buffers and counters, `epoch` (the epochs finished), the loader's
    /// shuffling state and every layer's training generator (`Dropout`'s). It also records what must stay the same
    /// for the continuation to be exact, which `restoreCheckpoint` checks: the layers, a digest
    /// of the model's parameters, buffers and counters (so the model must be saved with it,
    /// `save(to:)`), the optimizer's and schedule's kinds and settings, the loader's sample
    /// count, batch size, shuffling and `dropLast`.
    ///
    /// The file is a safetensors file, replaced atomically as `save(to:)` replaces a model's;
    /// the same errors.
    ///
    /// ```swift
    /// // A hand-written loop, saving after every epoch.
    /// for epoch in 1...epochs {
    ///     try loader.forEachBatch { _, x, y in
    ///         optimizer.zeroGrad()
    ///         _ = try loss.forward(model.forward(x), labels: y)
    ///         _ = model.backward(loss.backward())
    ///         optimizer.step()
    ///     }
    ///     schedule.step()
    ///     try model.save(to: "model.safetensors")
    ///     try model.saveCheckpoint(to: "run.checkpoint", optimizer: optimizer,
    ///                              schedule: schedule, epoch: epoch, loader: loader)
    /// }
    /// ```
    public func saveCheckpoint(to path: String, optimizer: some Optimizer,
                               schedule: (any LearningRateSchedule)? = nil, epoch: Int,
                               loader: MiniBatchLoader? = nil) throws {
        try replaceFile(at: path, with: checkpointImage(optimizer: optimizer, schedule: schedule,
                                                        epoch: epoch, loader: loader))
    }

    /// The bytes that `saveCheckpoint(to:optimizer:schedule:epoch:loader:)` writes.
    func checkpointImage(optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
                         epoch: Int, loader: MiniBatchLoader?) throws -> [UInt8] {
        require(epoch >= 0, "Model.saveCheckpoint: epoch \(epoch) must not be negative")
        let state = CheckpointState(model: self, optimizer: optimizer, schedule: schedule,
                                    epoch: epoch, loader: loader, reading: false)
        return try safeTensorsImage(of: state.tensors, metadata: state.metadata)
    }

    /// Restores what `saveCheckpoint` wrote to `path` into `optimizer`, `schedule`, `loader`
    /// and the layers' training generators, and returns the epoch it was saved after. Load
    /// the model's file saved with it first (`load(from:)`); then training goes on exactly as
    /// it would have gone on without the interruption, bit for bit.
    ///
    /// Restored: the optimizer's learning rate, buffers and step count, the schedule's epoch,
    /// buffers and counters (its `CheckpointContents`), the loader's shuffling state and the
    /// training generators. Checked, not restored (they are fixed when the objects are made,
    /// so make them as before): the layers, the model's state (its digest), the optimizer's
    /// kind, parameter shapes and settings (momentum, betas, eps, weight decay, ...), the
    /// schedule's kind and settings (or that there is none, as at saving), the loader's
    /// sample count, batch size, shuffling and `dropLast` (or that there is none).
    ///
    /// Throws, and changes nothing, when the file cannot be read or is not a valid safetensors
    /// file (the errors of `load(from:)`), is not a training checkpoint or was saved for
    /// another model, model state, optimizer, schedule or loader, or lacks a buffer or has one
    /// of another shape (`DeepLearningError.checkpointMismatch`, naming what differs), or holds
    /// values that no training reaches (`DeepLearningError.invalidCheckpoint`, naming the
    /// tensor: a negative or non-finite learning rate, a NaN in an optimizer's or schedule's
    /// buffer, a negative running average of squares (`CheckpointContents.nonNegativeTensors`),
    /// a count beyond 2⁵³, a loader order that is no permutation, a generator state of zeros).
    ///
    /// ```swift
    /// try model.load(from: "model.safetensors")
    /// let epoch = try model.restoreCheckpoint(from: "run.checkpoint", optimizer: optimizer,
    ///                                         schedule: schedule, loader: loader)
    /// for epoch in (epoch + 1)..<(epochs + 1) {   // none left when it was saved after the last
    ///     // train one epoch, as in the loop that saved it
    /// }
    /// ```
    @discardableResult
    public func restoreCheckpoint(from path: String, optimizer: some Optimizer,
                                  schedule: (any LearningRateSchedule)? = nil,
                                  loader: MiniBatchLoader? = nil) throws -> Int {
        try restoreCheckpoint(from: path, optimizer: optimizer, schedule: schedule, loader: loader,
                              epochs: nil)
    }

    /// `restoreCheckpoint(from:optimizer:schedule:loader:)` that also throws (changing
    /// nothing) when the checkpoint's epoch is beyond `epochs`.
    func restoreCheckpoint(from path: String, optimizer: some Optimizer,
                           schedule: (any LearningRateSchedule)?, loader: MiniBatchLoader?,
                           epochs: Int?) throws -> Int {
        let state = CheckpointState(model: self, optimizer: optimizer, schedule: schedule,
                                    epoch: 0, loader: loader, reading: true)
        try readSafeTensorsFile(
            at: path,
            into: { metadata, _ in
                try state.check(metadata, path: path)
                return state.tensors
            },
            mismatch: { $0.checkpointError(path: path) })
        try state.validate(path: path)
        let epoch = Int(state.epoch.value)
        if let epochs, epoch > epochs {
            throw DeepLearningError.checkpointMismatch(
                path: path,
                problem: "it was saved after epoch \(epoch), beyond the \(epochs) epoch\(epochs == 1 ? "" : "s") of this training")
        }
        state.commit()
        return epoch
    }

    /// FNV-1a (64 bits) of the bytes `save(to:)` writes for the model's tensors, in hexadecimal.
    fileprivate var stateDigest: String {
        var bytes: [UInt8] = []
        for tensor in storedTensors(in: .pytorch) { tensor.append(to: &bytes) }
        let digest = bytes.reduce(0xCBF2_9CE4_8422_2325 as UInt64) {
            ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01B3
        }
        return String(digest, radix: 16)
    }
}

/// The training state a checkpoint holds, as the stored tensors that are written or read, and
/// the metadata that must match. When reading, the tensors are fresh staging copies, filled by
/// the read, then validated, then committed into the training objects, so that a bad file
/// changes nothing; when saving, they are the training objects' own tensors or snapshots.
private struct CheckpointState {
    private(set) var metadata: [String: String] = [:]
    private(set) var tensors: [StoredTensor] = []
    /// The epochs finished.
    let epoch: Counter
    /// Checks of the staged values, each throwing `invalidCheckpoint` with its reason.
    private var validations: [(_ path: String) throws -> Void] = []
    /// Copies the staged values into the training objects.
    private var commits: [() -> Void] = []
    private let reading: Bool

    init(model: Model, optimizer: some Optimizer, schedule: (any LearningRateSchedule)?,
         epoch: Int, loader: MiniBatchLoader?, reading: Bool) {
        self.reading = reading
        self.epoch = Counter(Int64(epoch))
        let method = reading ? "Model.restoreCheckpoint" : "Model.saveCheckpoint"
        var metadata = ["format": "DeepLearning", "content": StoredLayout.checkpointMarker,
                        "model": model.layers.map(\.description).joined(separator: "; "),
                        "model_digest": model.stateDigest]
        let epoch = self.epoch
        add("epoch", epoch, commit: {})

        metadata["optimizer.parameters"] = optimizer.parameters.map { "\($0.shape)" }.joined(separator: " ")
        let learningRate = Tensor(shape: [], values: [optimizer.learningRate])
        add("optimizer.learning_rate", learningRate,
            validate: { learningRate.value[0] >= 0 && learningRate.value[0].isFinite ? nil
                : "its optimizer.learning_rate \(learningRate.value[0]) is not a finite rate ≥ 0" },
            commit: { optimizer.learningRate = learningRate.value[0] })
        add(optimizer.checkpointContents, of: "optimizer", to: &metadata, in: method)

        if let schedule {
            requireSchedule(schedule, setting: optimizer, in: method)
            let scheduleEpoch = Counter(Int64(schedule.epoch))
            add("schedule.epoch", scheduleEpoch, commit: { schedule.epoch = Int(scheduleEpoch.value) })
            add(schedule.checkpointContents, of: "schedule", to: &metadata, in: method)
        }

        if let loader {
            metadata["loader.samples"] = "\(loader.sampleCount)"
            metadata["loader.batch_size"] = "\(loader.batchSize)"
            metadata["loader.shuffle"] = "\(loader.shuffles)"
            metadata["loader.drop_last"] = "\(loader.dropsLast)"
            let (generator, order) = loader.shuffleState
            let stagedGenerator = addGenerator("loader.generator", generator)
            let stagedOrder = IntegerList(order)
            add("loader.order", .integers(stagedOrder),
                validate: { isPermutation(stagedOrder.values) ? nil
                    : "its loader.order is not a permutation of the indices 0..<\(order.count)" },
                commit: { loader.shuffleState = (stagedGenerator(), stagedOrder.values) })
        }

        for (path, layer) in model.layerTree.dropFirst() {
            guard let generator = layer.trainingGenerator else { continue }
            let staged = addGenerator("model.\(path).generator", generator)
            commits.append { layer.trainingGenerator = staged() }
        }
        self.metadata = metadata
    }

    /// Adds the kind and settings of `contents`, an optimizer's or a schedule's (`part`), to
    /// `metadata`, under "`part`" and "`part`.<name>", and its buffers and counters to the
    /// state, under "`part`.<name>". Stops with a message naming `method` when one of those
    /// names is one the checkpoint gives an entry of its own (the optimizer's learning_rate
    /// and parameters, the schedule's epoch): the file would hold two entries of one name.
    private mutating func add(_ contents: CheckpointContents, of part: String,
                              to metadata: inout [String: String], in method: String) {
        let stateNames = Set(tensors.map(\.name))
        for name in contents.tensors.map(\.name) + contents.counters.map(\.name) {
            require(!stateNames.contains("\(part).\(name)"),
                    "\(method): the \(part) \(contents.kind) names a buffer or counter \"\(name)\" in its CheckpointContents; the checkpoint's own \(part).\(name) has that name")
        }
        for (name, _) in contents.settings {
            require(metadata["\(part).\(name)"] == nil,
                    "\(method): the \(part) \(contents.kind) names a setting \"\(name)\" in its CheckpointContents; the checkpoint's own \(part).\(name) has that name")
        }
        metadata[part] = contents.kind
        for (name, value) in contents.settings { metadata["\(part).\(name)"] = value }
        for (name, tensor) in contents.tensors {
            add("\(part).\(name)", tensor, nonNegative: contents.nonNegativeTensors.contains(name))
        }
        for (name, counter) in contents.counters { add("\(part).\(name)", counter) }
    }

    /// Adds the buffer `tensor` (read into a staging copy, validated as holding no NaN, and
    /// nothing negative when `nonNegative`, then copied into it).
    private mutating func add(_ name: String, _ tensor: Tensor, nonNegative: Bool) {
        let staged = reading ? Tensor(shape: tensor.shape) : tensor
        add(name, staged,
            validate: { impossibleValue(in: staged, named: name, nonNegative: nonNegative) },
            commit: {
                tensor.value.update(from: staged.value, count: tensor.count)
                tensor.countInPlaceWrite()
            })
    }

    /// Adds `counter` (read into a staging counter, then set).
    private mutating func add(_ name: String, _ counter: Counter) {
        let staged = Counter(counter.value)
        add(name, staged, commit: { counter.value = staged.value })
    }

    /// Adds the staged `tensor`, `validate`d (nil: valid; else the problem) and committed
    /// after reading.
    private mutating func add(_ name: String, _ tensor: Tensor,
                              validate: @escaping () -> String? = { nil },
                              commit: @escaping () -> Void) {
        add(name, .floats(tensor, transposed: false), validate: validate, commit: commit)
    }

    /// Adds the staged `counter`, committed after reading (reading refuses a count outside
    /// `Counter.readableCounts`).
    private mutating func add(_ name: String, _ counter: Counter, commit: @escaping () -> Void) {
        add(name, .counter(counter), validate: { nil }, commit: commit)
    }

    private mutating func add(_ name: String, _ value: StoredTensor.Value,
                              validate: @escaping () -> String?, commit: @escaping () -> Void) {
        tensors.append(StoredTensor(name: name, value: value))
        validations.append { path in
            if let problem = validate() {
                throw DeepLearningError.invalidCheckpoint(path: path, problem: problem)
            }
        }
        commits.append(commit)
    }

    /// Adds a generator's state, as the bit patterns of its four words, validated as a state;
    /// returns the staged generator, which the caller commits.
    private mutating func addGenerator(_ name: String, _ generator: SeededGenerator)
        -> () -> SeededGenerator
    {
        let staged = IntegerList(generator.state.map { Int64(bitPattern: $0) })
        let words = { staged.values.map { UInt64(bitPattern: $0) } }
        add(name, .integers(staged),
            validate: { SeededGenerator.isValidState(words()) ? nil
                : "its \(name) is all zeros, a state no generator reaches" },
            commit: {})
        return { SeededGenerator(state: words()) }
    }

    /// Throws `checkpointMismatch` naming the first difference between the file's `metadata`
    /// and this training's: the content marker, then the model, then the optimizer, the
    /// schedule and the loader, then the model's state.
    func check(_ saved: [String: String], path: String) throws {
        func mismatch(_ problem: String) -> DeepLearningError {
            .checkpointMismatch(path: path, problem: problem)
        }
        guard saved["format"] == "DeepLearning", saved["content"] == StoredLayout.checkpointMarker else {
            throw mismatch("it is not a training checkpoint (its __metadata__ lacks \"content\": \"\(StoredLayout.checkpointMarker)\"; a model's file is read with Model.load(from:))")
        }
        let keys = Set(saved.keys).union(metadata.keys).subtracting(["model_digest"])
        let order = ["model", "optimizer", "optimizer.parameters", "schedule"]
        for key in order + keys.subtracting(order).sorted() where saved[key] != metadata[key] {
            throw mismatch("it was saved with \(key) \(saved[key] ?? "none"), this training has \(metadata[key] ?? "none")")
        }
        guard saved["model_digest"] == metadata["model_digest"] else {
            throw mismatch("it was saved with another state of the model (model_digest \(saved["model_digest"] ?? "none"), this model's is \(metadata["model_digest"]!)): load the model's file saved with it first")
        }
    }

    /// Runs the validations of the staged values.
    func validate(path: String) throws {
        for validation in validations { try validation(path) }
    }

    /// Copies the staged values into the training objects.
    func commit() {
        for commit in commits { commit() }
    }
}

/// The problem with the first value of the buffer `tensor`, `name` in the file, that is NaN,
/// or negative when `nonNegative`; nil when there is none. Infinities pass: a step can
/// overflow a buffer from finite gradients (Adam's squares of gradients beyond 2⁶⁴), and
/// training goes on from it.
private func impossibleValue(in tensor: Tensor, named name: String, nonNegative: Bool)
    -> String?
{
    let values = UnsafeBufferPointer(start: tensor.value, count: tensor.count)
    guard let index = values.firstIndex(where: { $0.isNaN || (nonNegative && $0 < 0) })
    else { return nil }
    let value = values[index]
    return value.isNaN
        ? "its \(name) holds NaN at element \(index)"
        : "its \(name) holds \(value) at element \(index), but an average of squares is never negative"
}

/// Whether `values` is a permutation of 0..<count.
private func isPermutation(_ values: [Int64]) -> Bool {
    var seen = [Bool](repeating: false, count: values.count)
    for value in values {
        guard value >= 0 && value < values.count && !seen[Int(value)] else { return false }
        seen[Int(value)] = true
    }
    return true
}

extension StoredTensorMismatch {
    /// The error that restoring the checkpoint at `path` throws for it: a count no training
    /// reaches makes it invalid; any other difference, a mismatch.
    func checkpointError(path: String) -> DeepLearningError {
        let problem: String
        switch self {
        case let .count(tensor, count):
            return .invalidCheckpoint(path: path, problem: "its \(tensor) \(count) is not a count training reaches (0 through 2^53)")
        case let .missing(tensors, _):
            problem = "it lacks \(tensors.count == 1 ? "tensor" : "tensors") \(quotedList(tensors)), which this training has"
        case let .unexpected(tensor):
            problem = "it has tensor \"\(tensor)\", which this training lacks"
        case let .dtype(tensor, dtype, expected):
            problem = "its tensor \"\(tensor)\" is \(dtype), this training's is \(expected)"
        case let .shape(tensor, shape, expected):
            problem = "its tensor \"\(tensor)\" has shape \(shape), this training's has \(expected)"
        }
        return .checkpointMismatch(path: path, problem: problem)
    }
}
