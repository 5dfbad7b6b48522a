import DeepLearning

/// Wraps any optimizer for data-parallel training, as Horovod's `DistributedOptimizer` does:
/// `step()` first replaces every parameter's gradient by the global batch's mean gradient
/// (`DataParallel.combineGradients(of:)`), then lets the wrapped optimizer step, then copies
/// rank 0's buffers (running statistics) to every rank. Hand-written loops use it like any
/// optimizer, after `DataParallel.synchronize(loss:samples:)` (`DataParallel.fit` does the
/// same in `Model.fit`'s `beforeStep`).
///
/// Every rank must make it over the same tensors in the same order (the same places among
/// `parallel.parameters`, the same shapes for others), so that each gradient is combined with
/// the same tensor's on the other ranks: the next `synchronize(loss:samples:)` compares them
/// and throws `DistributedError` on every rank when they differ.
///
/// ```swift
/// let optimizer = DistributedOptimizer(wrapping: SGD(parameters: model.parameters,
///                                                    learningRate: 0.1), parallel: parallel)
/// let globalLoss = try parallel.synchronize(loss: value, samples: batchLabels.count)
/// // backward, then:
/// optimizer.step()
/// ```
public final class DistributedOptimizer: Optimizer {
    /// The optimizer that updates the parameters from the combined gradients.
    public let wrapped: any Optimizer
    /// The ranks' agreement and gradient combination.
    public let parallel: DataParallel

    /// `wrapped`, stepping on the gradients combined by `parallel`; its parameters are
    /// compared across the ranks at the next `parallel.synchronize(loss:samples:)`.
    public init(wrapping wrapped: any Optimizer, parallel: DataParallel) {
        self.wrapped = wrapped
        self.parallel = parallel
        parallel.uncheckedOptimizers.append(parallel.places(of: wrapped.parameters))
    }

    public var parameters: [Tensor] { wrapped.parameters }

    public var learningRate: Float {
        get { wrapped.learningRate }
        set { wrapped.learningRate = newValue }
    }

    public func zeroGrad() { wrapped.zeroGrad() }

    /// Combines the gradients across the ranks, steps the wrapped optimizer and broadcasts
    /// rank 0's buffers. Every rank must call it, after `parallel.synchronize(loss:samples:)`.
    public func step() {
        parallel.combineGradients(of: wrapped.parameters)
        wrapped.step()
        parallel.broadcastBuffers()
    }

    public var checkpointContents: CheckpointContents { wrapped.checkpointContents }
}
