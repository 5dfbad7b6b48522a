/// A model's layers as its forward and backward passes run them: each ReLU is fused into the
/// matrix product of the `Linear` next to it, or into the move of a `Conv2D`'s product to
/// NCHW, saving a pass over the activations and a kernel call (which matters for small
/// layers). The results are those of the layers run one by one, bit for bit.
///
/// - Forward, a `Linear` followed by a `ReLU`: the product, its bias and the ReLU in one call
///   (`Linear.forward(_:then:)`); a `Conv2D` followed by a `ReLU`: the ReLU applied as the
///   output moves to NCHW (`Conv2D.forward(_:then:)`).
/// - Backward, a `ReLU` followed by a `Linear`: the Linear's input gradient and the ReLU's
///   mask in one call (`Linear.backward(_:through:)`); a `Conv2D` followed by a `ReLU`: the
///   ReLU's mask applied as dY moves channel-major (`Conv2D.backward(_:through:)`).
/// - Training with the library's optimizers, each `Linear`'s weight may take its step in the
///   product of its gradient (`accumulateParameterGradients(_:updating:)`).
///
/// Both backward passes run a parameter's `onGradientAccumulated` hooks right after the last
/// step that accumulates into its gradient, as `Tensor.backward()` does.
struct FusedSteps {
    /// The forward pass, first layer first.
    let forward: [ForwardStep]
    /// The backward pass, last layer first.
    let backward: [BackwardStep]
    /// For each backward step, the parameters whose gradient is complete after it: those of
    /// its layers that no later step accumulates into, each once.
    private let completedParameters: [[Tensor]]
    /// Whether no tensor is a parameter of two layers (nor twice of one): then no layer's
    /// backward pass reads a weight that a later one (in the backward pass) has updated.
    let parametersAreDistinct: Bool

    /// The steps of `layers`, or nil when one is not a `Function` or one appears twice: a
    /// `Function` keeps its last forward pass's input and buffers for its backward pass, so
    /// a layer used twice goes through the graph, whose nodes save each call's own.
    init?(_ layers: [any Layer]) {
        let functions = layers.compactMap { $0 as? any Function }
        guard functions.count == layers.count,
              Set(layers.map { ObjectIdentifier($0) }).count == layers.count
        else { return nil }
        self.init(functions: functions)
    }

    private init(functions layers: [any Function]) {
        var forward: [ForwardStep] = []
        var index = layers.startIndex
        while index < layers.endIndex {
            if index + 1 < layers.endIndex, let linear = layers[index] as? Linear,
               let relu = layers[index + 1] as? ReLU {
                forward.append(.linearThenReLU(linear, relu))
                index += 2
            } else if index + 1 < layers.endIndex, let convolution = layers[index] as? Conv2D,
                      let relu = layers[index + 1] as? ReLU {
                forward.append(.conv2DThenReLU(convolution, relu))
                index += 2
            } else {
                forward.append(.layer(layers[index]))
                index += 1
            }
        }
        var backward: [BackwardStep] = []
        index = layers.endIndex - 1
        while index >= layers.startIndex {
            if index - 1 >= layers.startIndex, let linear = layers[index] as? Linear,
               let relu = layers[index - 1] as? ReLU {
                backward.append(.linearThroughReLU(linear, relu))
                index -= 2
            } else if index - 1 >= layers.startIndex, let relu = layers[index] as? ReLU,
                      let convolution = layers[index - 1] as? Conv2D {
                backward.append(.conv2DThenReLU(convolution, relu))
                index -= 2
            } else if let linear = layers[index] as? Linear {
                backward.append(.linear(linear))
                index -= 1
            } else {
                backward.append(.layer(layers[index]))
                index -= 1
            }
        }
        self.forward = forward
        self.backward = backward
        var completed = [[Tensor]](repeating: [], count: backward.count)
        var seen = Set<ObjectIdentifier>()
        for index in backward.indices.reversed() {
            for parameter in backward[index].layers.flatMap(\.parameters)
            where seen.insert(ObjectIdentifier(parameter)).inserted {
                completed[index].append(parameter)
            }
        }
        completedParameters = completed
        let parameters = layers.flatMap(\.parameters).map(ObjectIdentifier.init)
        parametersAreDistinct = Set(parameters).count == parameters.count
    }

    /// The network's output for `input`: every forward step, first to last.
    func forward(_ input: Tensor) -> Tensor {
        var activation = input
        for index in forward.indices { activation = forward[index].forward(activation) }
        return activation
    }

    /// `forward(_:)` with each step run in the `RequireContext` that `context` gives for the
    /// step's first layer (its index in the model's layers, the layer, its input): what a
    /// layer's check that stops is read in.
    func forward(_ input: Tensor, context: (Int, any Function, Tensor) -> String) -> Tensor {
        var activation = input
        var index = 0
        for step in forward {
            let layers = step.layers
            activation = RequireContext.$current.withValue(context(index, layers[0], activation)) {
                step.forward(activation)
            }
            index += layers.count
        }
        return activation
    }

    /// dLoss/dInput from dLoss/dOutput: every backward step, accumulating the parameters'
    /// gradients.
    func backward(_ outputGradient: Tensor) -> Tensor {
        var gradient = outputGradient
        for index in backward.indices {
            gradient = backward[index].backward(gradient)
            runGradientHooks(after: index)
        }
        return gradient
    }

    /// Runs the `onGradientAccumulated` hooks of the parameters whose gradient backward step
    /// `index` completed.
    private func runGradientHooks(after index: Int) {
        for parameter in completedParameters[index] { parameter.runGradientHooks() }
    }

    /// Whether some `Linear`'s weight would take its step in its gradient's product for a
    /// batch of `batch` samples (`ck_sgemm_takes_step`): when none would, `fit` passes no
    /// optimizer down, and its small layers (the spiral's) do not even ask.
    func someWeightStepsInProduct(batch: Int) -> Bool {
        parametersAreDistinct
            && backward.contains { $0.linear?.weightStepsInProduct(batch: batch) == true }
    }

    /// The parameters' gradients from dLoss/dOutput, without dLoss/dInput of the first layer,
    /// which training does not need. With `optimizer` (nil: none), each `Linear`'s weight that
    /// can takes this step in the product of its gradient (`StepsInProduct`), that gradient
    /// then left unspecified; `optimizer.step()` updates the rest.
    func accumulateParameterGradients(_ outputGradient: Tensor,
                                      updating optimizer: (any StepsInProduct)? = nil) {
        let optimizer = parametersAreDistinct ? optimizer : nil
        var gradient = outputGradient
        guard let last = backward.indices.last else { return }
        for index in 0..<last {
            gradient = backward[index].backward(gradient, updating: optimizer)
            runGradientHooks(after: index)
        }
        backward[last].accumulateParameterGradients(gradient, updating: optimizer)
        runGradientHooks(after: last)
    }
}

/// One step of `Model.forward`: a layer, or a `Linear` or `Conv2D` and the `ReLU` right
/// after it.
enum ForwardStep {
    case layer(any Function)
    case linearThenReLU(Linear, ReLU)
    case conv2DThenReLU(Conv2D, ReLU)

    func forward(_ input: Tensor) -> Tensor {
        switch self {
        case .layer(let layer): layer.forward(input)
        case .linearThenReLU(let linear, let relu): linear.forward(input, then: relu)
        case .conv2DThenReLU(let convolution, let relu): convolution.forward(input, then: relu)
        }
    }

    /// The layers of the step, in the model's order.
    var layers: [any Function] {
        switch self {
        case .layer(let layer): [layer]
        case .linearThenReLU(let linear, let relu): [linear, relu]
        case .conv2DThenReLU(let convolution, let relu): [convolution, relu]
        }
    }
}

/// One step of `Model.backward`: a layer, a `Linear` (whose weight may take the optimizer's
/// step in its gradient's product), a `Linear` and the `ReLU` right before it, or a `Conv2D`
/// and the `ReLU` right after it.
enum BackwardStep {
    case layer(any Function)
    case linear(Linear)
    case linearThroughReLU(Linear, ReLU)
    case conv2DThenReLU(Conv2D, ReLU)

    func backward(_ outputGradient: Tensor, updating optimizer: (any StepsInProduct)? = nil)
        -> Tensor
    {
        switch self {
        case .layer(let layer): layer.backward(outputGradient)
        case .linear(let linear): linear.backward(outputGradient, through: nil, updating: optimizer)
        case .linearThroughReLU(let linear, let relu):
            linear.backward(outputGradient, through: relu, updating: optimizer)
        case .conv2DThenReLU(let convolution, let relu):
            convolution.backward(outputGradient, through: relu)
        }
    }

    /// The layers of the step.
    var layers: [any Function] {
        switch self {
        case .layer(let layer): [layer]
        case .linear(let linear): [linear]
        case .linearThroughReLU(let linear, let relu): [linear, relu]
        case .conv2DThenReLU(let convolution, let relu): [convolution, relu]
        }
    }

    /// The step's `Linear`, if it has one.
    var linear: Linear? {
        switch self {
        case .layer, .conv2DThenReLU: nil
        case .linear(let linear), .linearThroughReLU(let linear, _): linear
        }
    }

    /// The parameters' gradients without dLoss/dInput where the step can skip it.
    func accumulateParameterGradients(_ outputGradient: Tensor,
                                      updating optimizer: (any StepsInProduct)?) {
        switch self {
        case .layer(let layer): layer.accumulateParameterGradients(outputGradient)
        case .linear(let linear):
            linear.accumulateParameterGradients(outputGradient, updating: optimizer)
        case .linearThroughReLU: _ = backward(outputGradient, updating: optimizer)
        case .conv2DThenReLU(let convolution, let relu):
            convolution.accumulateParameterGradients(outputGradient, through: relu)
        }
    }
}
