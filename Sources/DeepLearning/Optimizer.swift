/// Updates parameters from their gradients. An optimizer is given the parameters it updates
/// (usually `model.parameters`); it does not own the model.
///
/// A training step: `optimizer.zeroGrad()`, forward, loss, backward (which accumulates the
/// gradients), `optimizer.step()`.
///
/// ```swift
/// let optimizer: any Optimizer = Adam(parameters: model.parameters)
/// optimizer.zeroGrad()
/// _ = model.backward(loss.backward())   // after model.forward(x) and loss.forward(_:labels:)
/// optimizer.step()
/// ```
public protocol Optimizer: AnyObject {
    /// The tensors this optimizer updates, each once: the library's optimizers stop with a
    /// message naming both positions when one is listed twice.
    var parameters: [Tensor] { get }
    /// The step size; learning-rate schedules change it between epochs. The library's
    /// optimizers stop with a message when it is set to a negative value, NaN or infinity
    /// (which PyTorch accepts: its first step makes every parameter with a gradient infinite
    /// or NaN).
    var learningRate: Float { get set }
    /// Sets the gradients of all parameters to zero, leaving them without a gradient until a
    /// backward pass gives them one, as PyTorch's `zero_grad(set_to_none=True)`.
    func zeroGrad()
    /// Updates once, from its current gradient, every parameter that has one (the library's
    /// optimizers leave out a parameter no backward pass reached since `zeroGrad()`, as
    /// PyTorch's do).
    func step()
    /// Its kind, settings, buffers and step counts, for training checkpoints
    /// (`Model.saveCheckpoint(to:optimizer:schedule:epoch:loader:)`).
    var checkpointContents: CheckpointContents { get }
}

extension Optimizer {
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// An optimizer's setting that must be finite, and all but `dampening` at least 0. PyTorch
/// accepts infinity for each (and NaN for dampening, which it does not check), although no
/// training can use it; `infiniteConsequence` says why.
enum FiniteSetting {
    case learningRate, momentum, weightDecay, eps, dampening

    /// Its name in messages.
    var name: String {
        switch self {
        case .learningRate: "learning rate"
        case .momentum: "momentum"
        case .weightDecay: "weight decay"
        case .eps: "eps"
        case .dampening: "dampening"
        }
    }

    /// What an infinite value would do to the training, which the message gives.
    var infiniteConsequence: String {
        switch self {
        case .learningRate:
            "a step at an infinite rate makes every parameter with a gradient infinite or NaN"
        case .momentum: "the momentum buffers would turn infinite or NaN at the second step"
        case .weightDecay: "every parameter would turn infinite or NaN at its first step"
        case .eps:
            "an infinite denominator makes every step 0 (or NaN), so no parameter would change"
        case .dampening:
            "(1 − dampening) · g would turn the momentum buffers infinite or NaN at the second step"
        }
    }
}

/// Stops as `requireNotNegative` unless `value >= 0`, then as `requireFinite`
/// (`FiniteSetting`).
func requireFiniteSetting(_ setting: FiniteSetting, _ value: Float, _ owner: String,
                          file: StaticString = #fileID, line: UInt = #line) {
    requireNotNegative(value, owner, setting.name, file: file, line: line)
    requireFinite(setting, value, owner, file: file, line: line)
}

/// Stops with "`owner`: `name` is NaN; it must be a finite number" for NaN and with
/// "`owner`: `name` inf must be finite: `consequence`" for infinity, for a setting that may be
/// any finite number (SGD's dampening, as PyTorch's).
func requireFinite(_ setting: FiniteSetting, _ value: Float, _ owner: String,
                   file: StaticString = #fileID, line: UInt = #line) {
    require(value.isFinite,
            value.isNaN ? "\(owner): \(setting.name) is NaN; it must be a finite number"
                : "\(owner): \(setting.name) \(value) must be finite: \(setting.infiniteConsequence)",
            file: file, line: line)
}

/// Stops with "`owner`: `name` `value` must not be negative" unless `value >= 0`, and with
/// "`owner`: `name` is NaN; ..." for NaN: PyTorch's checks of learning rates, momenta,
/// weight decays and epsilons, and the checks of penalties and schedules.
func requireNotNegative(_ value: Float, _ owner: String, _ name: String,
                        file: StaticString = #fileID, line: UInt = #line) {
    require(value >= 0,
            value.isNaN ? "\(owner): \(name) is NaN; it must be a number of at least 0"
                : "\(owner): \(name) \(value) must not be negative",
            file: file, line: line)
}

/// Stops with a message naming `owner` and both positions when a tensor appears twice in
/// `parameters`: an optimizer would update it twice a step, a penalty count it twice.
/// (PyTorch only warns.)
func requireDistinct(_ parameters: [Tensor], _ owner: String,
                     file: StaticString = #fileID, line: UInt = #line) {
    var positions: [ObjectIdentifier: Int] = [:]
    for (index, parameter) in parameters.enumerated() {
        if let first = positions.updateValue(index, forKey: ObjectIdentifier(parameter)) {
            stop("\(owner): parameter \(index) (shape \(parameter.shape)) is parameter \(first) again; list each parameter once, else it counts twice",
                 file: file, line: line)
        }
    }
}
