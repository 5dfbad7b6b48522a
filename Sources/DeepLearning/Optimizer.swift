/// Updates parameters from their gradients. An optimizer is given the parameters it updates
/// (usually `model.parameters`); it does not own the model.
///
/// A training step: `optimizer.zeroGrad()`, forward, loss, backward (which accumulates the
/// gradients), `optimizer.step()`.
public protocol Optimizer: AnyObject {
    /// The tensors this optimizer updates.
    var parameters: [Tensor] { get }
    /// Sets the gradients of all parameters to zero.
    func zeroGrad()
    /// Updates every parameter once from its current gradient.
    func step()
}

extension Optimizer {
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}
