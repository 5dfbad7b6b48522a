/// What a training checkpoint holds of an optimizer or a learning-rate schedule besides the
/// optimizer's learning rate and the schedule's epoch, which every checkpoint restores: its
/// kind and settings, which must be the same when training resumes, and its state, which is
/// restored.
///
/// An optimizer of your own makes itself resumable by listing what its `step()` keeps:
///
/// ```swift
/// public var checkpointContents: CheckpointContents {
///     CheckpointContents(kind: "MySGD", settings: [("momentum", "\(momentum)")],
///                        tensors: velocities.enumerated().map { ("velocity.\($0.offset)", $0.element) },
///                        counters: [("step", steps)])
/// }
/// ```
public struct CheckpointContents {
    /// The type's name ("SGD", "CosineAnnealing"): a checkpoint resumes only the same kind.
    public let kind: String
    /// The settings fixed when it was made (momentum, betas, ...), by name, as text that
    /// tells the values apart exactly (`"\(value)"` of a `Float` does): resuming checks each
    /// against the checkpoint's.
    public let settings: [(name: String, value: String)]
    /// The buffers it keeps between steps (momentum buffers, moments), by name: resuming
    /// overwrites them with the checkpoint's, and refuses a checkpoint whose buffer holds a
    /// NaN (the next step would carry it into the parameters).
    public let tensors: [(name: String, tensor: Tensor)]
    /// The names, among `tensors`, of the buffers that no step makes negative (running
    /// averages of squared gradients, whose square roots a step takes): resuming refuses a
    /// checkpoint in which one holds a negative value.
    public let nonNegativeTensors: Set<String>
    /// Its counters (steps taken), by name: resuming sets them to the checkpoint's.
    public let counters: [(name: String, counter: Counter)]

    /// Contents of a `kind` with `settings`, buffers `tensors` (those named in
    /// `nonNegativeTensors` never negative) and `counters`. The names of the settings must be
    /// unique, and those of the tensors and counters together; a checkpoint names its own
    /// entries `learning_rate` and `parameters` (an optimizer's) and `epoch` (a schedule's),
    /// so an optimizer's tensors and counters must not be named `learning_rate` nor its
    /// settings `parameters`, and a schedule's tensors and counters must not be named
    /// `epoch`: saving or restoring such a checkpoint stops with a message.
    public init(kind: String, settings: [(name: String, value: String)] = [],
                tensors: [(name: String, tensor: Tensor)] = [],
                nonNegativeTensors: Set<String> = [],
                counters: [(name: String, counter: Counter)] = []) {
        let names = tensors.map(\.name) + counters.map(\.name)
        require(Set(names).count == names.count,
                "CheckpointContents(\(kind)): names \(names) are not unique")
        require(Set(settings.map(\.name)).count == settings.count,
                "CheckpointContents(\(kind)): setting names \(settings.map(\.name)) are not unique")
        require(nonNegativeTensors.isSubset(of: tensors.map(\.name)),
                "CheckpointContents(\(kind)): nonNegativeTensors \(nonNegativeTensors.sorted()) are not all among the tensors \(tensors.map(\.name))")
        self.kind = kind
        self.settings = settings
        self.tensors = tensors
        self.nonNegativeTensors = nonNegativeTensors
        self.counters = counters
    }
}

/// The settings for `flags` that are off by default, each listed ("true") only when on: a
/// checkpoint saved before a flag existed then restores into an optimizer with it off, and
/// one saved with a flag on refuses an optimizer with it off, and the other way round
/// ("saved with optimizer.amsgrad true, this training has none").
func settingsWhenOn(_ flags: [(name: String, isOn: Bool)]) -> [(name: String, value: String)] {
    flags.filter(\.isOn).map { (name: $0.name, value: "true") }
}

/// `buffers` named "`name`.0", "`name`.1", ... by their parameter's index, as PyTorch's
/// optimizer `state_dict` keys its per-parameter state.
func perParameter(_ name: String, _ buffers: [Tensor]) -> [(name: String, tensor: Tensor)] {
    buffers.enumerated().map { (name: "\(name).\($0.offset)", tensor: $0.element) }
}

/// `counters` named "`name`.0", "`name`.1", ... by their parameter's index, as the buffers of
/// `perParameter(_:_:)` (PyTorch keeps a `step` per parameter).
func perParameter(_ name: String, _ counters: [Counter]) -> [(name: String, counter: Counter)] {
    counters.enumerated().map { (name: "\(name).\($0.offset)", counter: $0.element) }
}
