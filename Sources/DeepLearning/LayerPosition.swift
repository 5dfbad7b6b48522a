/// Where a model's layers run while `Model.forward`, `predict` and `model(x)` name them: the
/// first time a model runs on a sample shape (its input's shape without the batch dimension),
/// each layer runs in a `RequireContext` that names its position, so that a layer that does
/// not fit its input is named by it ("layer 1.1", as in saved files), not only by its own
/// message.
struct LayerPosition {
    /// What the user called: "Model.forward", "Model.predict", ...
    let method: String
    /// The shape of the input of the outermost model.
    let input: [Int]
    /// The dotted position of the layer that runs ("" for the outermost model itself).
    let path: String

    /// The position of layer `index` of the model at this one.
    func entering(_ index: Int) -> LayerPosition {
        LayerPosition(method: method, input: input,
                      path: path.isEmpty ? "\(index)" : "\(path).\(index)")
    }

    /// The text before a stopping check's message in `layer`, at this position, given `input`.
    func context(of layer: any Layer, given input: Tensor) -> String {
        "\(method): layer \(path) of the model, \(layer), cannot take what the input of shape \(self.input) gives it, shape \(input.shape); the layer says: "
    }
}
