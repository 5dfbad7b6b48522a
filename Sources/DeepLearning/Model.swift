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

    /// `body`'s result with the model in `isTraining` mode, then the previous mode again
    /// (internal for `fit`, ModelTraining.swift, as are `run` and `fusedSteps`).
    func inMode<T>(training: Bool, _ body: () throws -> T) rethrows -> T {
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
    func run(_ input: Tensor, for method: String) -> Tensor {
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
    func run(_ input: Tensor, at position: LayerPosition) -> Tensor {
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
    var fusedSteps: FusedSteps? { allowsFusedPath ? steps : nil }

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

    /// The most likely class of each row of `inputs`, evaluated in evaluation mode: the index
    /// of the row's largest score, the smallest such index on ties. A NaN score counts as
    /// smaller than every number (PyTorch's `argmax` picks it instead), so a row of only NaN
    /// gives class 0.
    public func predict(_ inputs: Tensor) -> [Int32] {
        mostLikelyClasses(classScores(of: inputs, for: "Model.predict"))
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
        let output = classScores(of: inputs, for: "Model.probabilities")
        let probabilities = Tensor(shape: output.shape)
        ck_softmax(Int64(output.shape[0]), Int64(output.shape[1]), output.value,
                   probabilities.value)
        return probabilities
    }

    /// The network's output for `inputs` in evaluation mode, after checking that it holds a
    /// row of class scores per sample, `[samples, classes]`; stops with a message naming
    /// `method` otherwise.
    private func classScores(of inputs: Tensor, for method: String) -> Tensor {
        let output = inMode(training: false) { forward(inputs, for: method) }
        require(output.shape.count == 2 && output.shape[1] >= 1,
                "\(method): the model's output has shape \(output.shape), not the class scores [samples, classes] that it needs")
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
        let output = classScores(of: inputs, for: "Model.accuracy")
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
