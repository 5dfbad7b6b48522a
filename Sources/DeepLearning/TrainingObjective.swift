/// What `Model.fit`'s training loop trains towards: the loader's batches of one kind of
/// targets, and the loss of the model's output against them. The loop is written once,
/// generic over this, for class labels (`LabelObjective`) and tensor targets
/// (`TargetObjective`).
protocol TrainingObjective {
    /// The targets of one batch, as the loader hands them out.
    associatedtype BatchTargets

    /// Runs one epoch of `loader`'s batches: `body(batch, inputs, targets)`.
    func forEachBatch(of loader: MiniBatchLoader,
                      _ body: (Int, Tensor, BatchTargets) throws -> Void) throws

    /// The loss of `output` against `targets`.
    func forward(_ output: Tensor, _ targets: BatchTargets) throws -> Float

    /// dLoss/dOutput of the last `forward`.
    func backward() -> Tensor
}

/// Class labels and a `Loss` over them.
struct LabelObjective<L: Loss>: TrainingObjective {
    let loss: L

    func forEachBatch(of loader: MiniBatchLoader,
                      _ body: (Int, Tensor, ArraySlice<Int32>) throws -> Void) throws {
        try loader.forEachBatch(body)
    }

    func forward(_ output: Tensor, _ labels: ArraySlice<Int32>) throws -> Float {
        try loss.forward(output, labels: labels)
    }

    func backward() -> Tensor { loss.backward() }
}

/// Tensor targets and a `TargetLoss` against them.
struct TargetObjective<L: TargetLoss>: TrainingObjective {
    let loss: L

    func forEachBatch(of loader: MiniBatchLoader,
                      _ body: (Int, Tensor, Tensor) throws -> Void) throws {
        try loader.forEachTargetBatch(body)
    }

    func forward(_ output: Tensor, _ targets: Tensor) throws -> Float {
        try loss.forward(output, targets: targets)
    }

    func backward() -> Tensor { loss.backward() }
}
