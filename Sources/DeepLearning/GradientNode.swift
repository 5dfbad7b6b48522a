import CKernels

/// A recorded operation of the graph: what its backward pass needs to turn the gradient of
/// its output into gradients of its inputs. PyTorch's `grad_fn`.
///
/// An operation computes its output with a kernel and, when `recordsGradient(...)` says so,
/// attaches a node to the output (`Tensor.attach(_:)`). The node keeps an edge to each input
/// (the input's own node, or the input itself when it is a leaf that requires a gradient)
/// and the tensors its backward pass reads, saved with their versions (`SavedTensor`).
/// `Tensor.backward()` runs the nodes in reverse topological order; each one's
/// `backward(_:)` writes or adds its inputs' gradients into `gradientTarget(forInput:)`.
/// After it ran, a node drops its edges and saved tensors (the graph is freed).
///
/// Each operation of the library is a subclass that overrides `backward(_:)` (the class is
/// public for reading a tensor's `gradientNode`, not for subclassing outside the library):
///
/// ```swift
/// final class ExampleNegationNode: GradientNode {
///     init(input: Tensor) { super.init("neg", input: input, outputShape: input.shape) }
///     override func backward(_ outputGradient: Tensor) {
///         // dx (+)= -dy, or nothing when the input needs no gradient
///         gradientTarget(forInput: 0)?.add(outputGradient, scaledBy: -1)
///     }
/// }
/// ```
public class GradientNode {
    /// The operation's name, for messages ("matmul", "+"); an operation fused into the node
    /// afterwards renames it ("relu(matmul + bias)", see `MatrixProductNode`). A call of a
    /// layer is named by the layer's description, read when the name is asked for (by a
    /// message), not built on every call.
    public internal(set) var operation: String {
        get {
            switch name {
            case .text(let text): text
            case .call(let layer): layer.description
            }
        }
        set { name = .text(newValue) }
    }
    /// What `operation` returns.
    @exclusivity(unchecked) private var name: OperationName
    /// The shape of the output, which the gradient passed to `backward(_:)` has.
    let outputShape: [Int]
    /// Where each input's gradient goes, `inputCount` of them: the first three here, the others
    /// in `moreInputs`, so that an operation of up to three inputs allocates no array. All
    /// `.none` once the node has run.
    @exclusivity(unchecked) private var firstInput = Edge.none, secondInput = Edge.none
    @exclusivity(unchecked) private var thirdInput = Edge.none
    @exclusivity(unchecked) private var moreInputs: [Edge] = []
    /// The number of inputs; 0 once the node has run.
    @exclusivity(unchecked) private(set) var inputCount: Int
    /// The tensors the backward pass reads, stored as the inputs are; nil once the node has run.
    @exclusivity(unchecked) private var firstSaved: SavedTensor?, secondSaved: SavedTensor?
    @exclusivity(unchecked) private var thirdSaved: SavedTensor?
    @exclusivity(unchecked) private var moreSaved: [SavedTensor] = []
    /// The number of saved tensors.
    @exclusivity(unchecked) private var savedCount = 0
    /// Whether a saved tensor is in a tensor's gradient buffer (`w.gradient`), which a
    /// backward pass may add into before this node reads it (`copySavedGradients()`).
    @exclusivity(unchecked) private var savesGradient = false
    /// The gradient of the output, summed over the output's uses; nil until the first
    /// consumer delivered it.
    @exclusivity(unchecked) var outputGradient: Tensor?
    /// Whether `outputGradient` belongs to the graph, so that it may be handed on to an input
    /// as that input's gradient (`passGradient(_:toInput:)`) and accumulated into there: false
    /// for a gradient the caller of `backward(_:)` passed.
    @exclusivity(unchecked) var ownsOutputGradient = true
    /// During `backward()`: consumers whose gradient contributions are still to come.
    @exclusivity(unchecked) var pendingConsumers = 0
    /// During `backward()`: whether the dependency count has reached this node.
    @exclusivity(unchecked) var isVisited = false
    /// Whether `backward()` has run this node and freed what it kept.
    @exclusivity(unchecked) private(set) var isFreed = false

    /// A node for `operation` on `inputs` (edges to those that require a gradient), saving
    /// `saving` for the backward pass, whose output has `outputShape`.
    init(_ operation: OperationName, inputs: [Tensor], saving: [Tensor] = [],
         outputShape: [Int]) {
        name = operation
        self.outputShape = outputShape
        inputCount = 0
        for input in inputs { appendInput(input) }
        for tensor in saving { save(tensor) }
    }

    /// A node for `operation` on `input` and, when given, `secondInput`, saving `saved` and
    /// `secondSaved`: the common case, without the arrays of the general initializer. The
    /// tensors are `__shared` (borrowed from the caller, as a function's arguments are, where
    /// an initializer's are owned): passing them costs no retain and release.
    init(_ operation: String, input: __shared Tensor, _ secondInput: __shared Tensor? = nil,
         saving saved: __shared Tensor? = nil, _ secondSaved: __shared Tensor? = nil,
         outputShape: [Int]) {
        name = .text(operation)
        self.outputShape = outputShape
        firstInput = Edge(input)
        if let secondInput { self.secondInput = Edge(secondInput) }
        inputCount = secondInput == nil ? 1 : 2
        // Each saved tensor's storage asked before it is stored: reading it back from the
        // stored optional would copy it (a retain and release of its storage and shape).
        if let saved {
            let first = SavedTensor(saved)
            savesGradient = first.storage.holdsGradient
            firstSaved = first
        }
        if let secondSaved {
            let second = SavedTensor(secondSaved)
            savesGradient = savesGradient || second.storage.holdsGradient
            self.secondSaved = second
        }
        savedCount = secondSaved != nil ? 2 : saved != nil ? 1 : 0
    }

    /// Adds an input after those given at initialization, as input `inputCount`: for an
    /// operation fused into this node after it was recorded.
    func appendInput(_ tensor: Tensor) {
        let edge = Edge(tensor)
        switch inputCount {
        case 0: firstInput = edge
        case 1: secondInput = edge
        case 2: thirdInput = edge
        default: moreInputs.append(edge)
        }
        inputCount += 1
    }

    /// Saves `tensor` for the backward pass, as saved tensor `savedCount` (`savedValue(_:)`).
    func save(_ tensor: Tensor) {
        let saved = SavedTensor(tensor)
        switch savedCount {
        case 0: firstSaved = saved
        case 1: secondSaved = saved
        case 2: thirdSaved = saved
        default: moreSaved.append(saved)
        }
        savedCount += 1
        savesGradient = savesGradient || saved.storage.holdsGradient
    }

    /// Replaces each saved tensor that is in a gradient buffer by a copy of its values, so
    /// that this node reads the values it saved even after the pass added into that gradient:
    /// PyTorch's nodes read them before its `AccumulateGrad` adds to `.grad`. Stops with
    /// `savedValue(_:)`'s message when such a tensor was written since it was saved (by the
    /// user, or by an earlier pass). `GraphExecution` calls this on every node of a pass
    /// before the first runs; only for nodes whose backward pass reads their saved tensors
    /// through `savedValue(_:)`.
    func copySavedGradients() {
        guard savesGradient else { return }
        for index in 0..<savedCount where saved(index).storage.holdsGradient {
            if !saved(index).isUnchanged { stopOnModified(index) }
            let copy = saved(index).copy()
            switch index {
            case 0: firstSaved = copy
            case 1: secondSaved = copy
            case 2: thirdSaved = copy
            default: moreSaved[index - 3] = copy
            }
        }
        savesGradient = false
    }

    /// The edge of input `index`.
    @inline(__always)
    func input(_ index: Int) -> Edge {
        switch index {
        case 0: firstInput
        case 1: secondInput
        case 2: thirdInput
        default: moreInputs[index - 3]
        }
    }

    /// Takes the edge of input `index` out of the node, leaving `.none`: for the engine, which
    /// reads each edge once after the node ran, right before `free()` would drop it (a moved
    /// edge costs no retain and release of its node or leaf, a copy would).
    func takeInput(_ index: Int) -> Edge {
        var edge = Edge.none
        switch index {
        case 0: swap(&edge, &firstInput)
        case 1: swap(&edge, &secondInput)
        case 2: swap(&edge, &thirdInput)
        default: swap(&edge, &moreInputs[index - 3])
        }
        return edge
    }

    /// Frees the graph below this node without recursion: a chain of a million operations that
    /// never ran `backward()` would otherwise free each node from its successor's deinit and
    /// overflow the stack. Nodes referenced only from here have their edges taken over, so
    /// that each is freed by this loop with no edges of its own left.
    deinit {
        guard inputCount > 0 else { return } // freed by backward() already
        var stack: [GradientNode] = []
        takeEdges(into: &stack)
        while var node = stack.popLast() {
            if isKnownUniquelyReferenced(&node) { node.takeEdges(into: &stack) }
        }
    }

    /// Appends the nodes this node's edges lead to to `stack`, and drops the edges.
    private func takeEdges(into stack: inout [GradientNode]) {
        for index in 0..<inputCount {
            if case .node(let node) = input(index) { stack.append(node) }
        }
        firstInput = .none
        secondInput = .none
        thirdInput = .none
        moreInputs = []
        inputCount = 0
    }

    /// Computes the inputs' gradients from dLoss/dOutput (`outputGradient`, of the output's
    /// shape) and writes or adds each into `gradientTarget(forInput:)`.
    func backward(_ outputGradient: Tensor) {
        fatalError("\(operation): backward not implemented")
    }

    /// Where the gradient of input `index` goes, or nil when that input needs none. The
    /// buffer has the input's shape and count; `accumulate` says whether the operation must
    /// add to it (another path already wrote it) or overwrite it.
    func gradientTarget(forInput index: Int) -> GradientTarget? {
        switch input(index) {
        case .none:
            return nil
        case .leaf(let tensor):
            return tensor.gradientForAccumulation()
        case .node(let node):
            if let gradient = node.outputGradient {
                return GradientTarget(buffer: gradient.value, count: gradient.count,
                                      accumulate: true)
            }
            let gradient = GradientTensorCache.tensor(shape: node.outputShape)
            node.outputGradient = gradient
            return GradientTarget(buffer: gradient.value, count: gradient.count,
                                  accumulate: false)
        }
    }

    /// `gradientTarget(forInput: index)` for a kernel that reads saved tensor `saved`, the
    /// input's values, element by element, each before it writes that element of the
    /// gradient: when the input is a node with no gradient yet, of the saved tensor's shape,
    /// and nothing but this node holds the saved tensor's storage (no tensor, view or other
    /// node can read it again), the gradient is written over the saved values, which become
    /// the node's gradient tensor: no new buffer, and one the kernel has in cache.
    func gradientTarget(forInput index: Int, overSaved saved: Int) -> GradientTarget? {
        guard case .node(let node) = input(index), node.outputGradient == nil,
              savedShape(saved) == node.outputShape, holdsSavedStorageAlone(saved) else {
            return gradientTarget(forInput: index)
        }
        let values = self.saved(saved)
        let gradient = Tensor(shape: node.outputShape, storage: values.storage,
                              value: values.value)
        node.outputGradient = gradient
        return GradientTarget(buffer: values.value, count: gradient.count, accumulate: false)
    }

    /// Whether saved tensor `index`'s storage is held by this node alone.
    private func holdsSavedStorageAlone(_ index: Int) -> Bool {
        switch index {
        case 0: isKnownUniquelyReferenced(&firstSaved!.storage)
        case 1: isKnownUniquelyReferenced(&secondSaved!.storage)
        case 2: isKnownUniquelyReferenced(&thirdSaved!.storage)
        default: isKnownUniquelyReferenced(&moreSaved[index - 3].storage)
        }
    }

    /// Gives input `index` `scale` · `gradient` (of that input's shape, computed by this
    /// node's backward pass or its own output gradient) as its contribution: the tensor itself,
    /// without a copy, when `scale` is 1 and `handsOver(owned:toInput:)`; otherwise added into
    /// `gradientTarget(forInput:)`. PyTorch's `AddBackward` passing its gradient through.
    func passGradient(_ gradient: Tensor, scaledBy scale: Float = 1, owned: Bool,
                      toInput index: Int) {
        if scale == 1, handsOver(owned: owned, toInput: index), case .node(let node) = input(index) {
            node.outputGradient = gradient
            node.ownsOutputGradient = owned
            return
        }
        gradientTarget(forInput: index)?.add(gradient, scaledBy: scale)
    }

    /// Whether `passGradient(_:owned:toInput:)` with scale 1 gives input `index` the tensor
    /// itself rather than adding it: when the input is a node that has no gradient yet and
    /// either the tensor belongs to the graph (`owned`, which it then keeps being: later
    /// contributions add into it) or this is the input's last use (no contribution follows:
    /// the node gets a gradient it does not own, which it only reads, e.g. the caller's
    /// output gradient handed through `a + 1`).
    func handsOver(owned: Bool, toInput index: Int) -> Bool {
        guard case .node(let node) = input(index), node.outputGradient == nil else { return false }
        return owned || node.pendingConsumers == 1
    }

    /// The saved tensor `index`.
    @inline(__always)
    private func saved(_ index: Int) -> SavedTensor {
        switch index {
        case 0: firstSaved!
        case 1: secondSaved!
        case 2: thirdSaved!
        default: moreSaved[index - 3]
        }
    }

    /// The values of saved tensor `index`, after checking that nothing wrote to it since it
    /// was saved (stops with a message naming the operation otherwise).
    func savedValue(_ index: Int) -> UnsafeMutablePointer<Float> {
        // Each case reads the fields in place: a copy of the saved tensor would retain and
        // release its storage and shape.
        let (value, isUnchanged) = switch index {
        case 0: (firstSaved!.value, firstSaved!.isUnchanged)
        case 1: (secondSaved!.value, secondSaved!.isUnchanged)
        case 2: (thirdSaved!.value, thirdSaved!.isUnchanged)
        default: (moreSaved[index - 3].value, moreSaved[index - 3].isUnchanged)
        }
        if !isUnchanged { stopOnModified(index) }
        return value
    }

    /// The values of saved tensor `index` when there is one and nothing wrote to it since it
    /// was saved, else nil: for a tensor the backward pass can do without (and recompute).
    func savedValueIfUnchanged(_ index: Int) -> UnsafeMutablePointer<Float>? {
        guard index < savedCount else { return nil }
        let saved = saved(index)
        return saved.isUnchanged ? saved.value : nil
    }

    /// Stops with a message: saved tensor `index` was modified since it was saved.
    @inline(never)
    private func stopOnModified(_ index: Int) -> Never {
        let saved = saved(index)
        fatalError("backward: \(operation) saved a tensor of shape \(saved.shape) for its backward pass, which was modified afterwards (version \(saved.version), now \(saved.storage.version)); compute it anew or modify a copy")
    }

    /// Stops with a message, as `savedValue(_:)`, when something wrote to any saved tensor
    /// since it was saved: for a backward pass that reads them by other ways than
    /// `savedValue(_:)`.
    func requireSavedTensorsUnchanged() {
        for index in 0..<savedCount { _ = savedValue(index) }
    }

    /// The shape of saved tensor `index`.
    func savedShape(_ index: Int) -> [Int] {
        // Read in place, as `savedValue(_:)` does: a copy of the saved tensor would retain and
        // release its storage.
        switch index {
        case 0: firstSaved!.shape
        case 1: secondSaved!.shape
        case 2: thirdSaved!.shape
        default: moreSaved[index - 3].shape
        }
    }

    /// Stops with a message when this node's graph was already freed by a `backward()`.
    func requireNotFreed() {
        require(!isFreed,
                "backward: \(operation) (output shape \(outputShape)) was already run by an earlier backward(), which freed its graph; compute the result anew to differentiate it again")
    }

    /// Drops the edges, the saved tensors and the output gradient: after `backward(_:)`.
    func free() {
        firstInput = .none
        secondInput = .none
        thirdInput = .none
        if inputCount > 3 { moreInputs = [] }
        inputCount = 0
        firstSaved = nil
        secondSaved = nil
        thirdSaved = nil
        if savedCount > 3 { moreSaved = [] }
        savedCount = 0
        if let gradient = outputGradient.take(), ownsOutputGradient {
            GradientTensorCache.recycle(gradient)
        }
        isFreed = true
    }
}

/// The name of a node's operation (`GradientNode.operation`): the text itself, or the layer
/// the node is a call of, whose description names it.
enum OperationName: ExpressibleByStringLiteral {
    case text(String)
    case call(of: any Layer)

    init(stringLiteral text: String) { self = .text(text) }
}

/// Where an input's gradient goes from a node: the input's own node, the input itself (a
/// leaf that requires a gradient), or nowhere.
enum Edge {
    case none
    case leaf(Tensor)
    case node(GradientNode)

    init(_ tensor: __shared Tensor) {
        if let node = tensor.gradientNode {
            self = .node(node)
        } else {
            self = tensor.requiresGradient ? .leaf(tensor) : .none
        }
    }
}

/// A tensor a node keeps for its backward pass: its storage (not the tensor itself, so that
/// a node saving its own output makes no reference cycle), where its values start, its shape,
/// and the storage's version when it was saved.
struct SavedTensor {
    /// Never reassigned (a `var` for `isKnownUniquelyReferenced`).
    var storage: TensorStorage
    let value: UnsafeMutablePointer<Float>
    let shape: [Int]
    let version: Int

    init(_ tensor: __shared Tensor) {
        storage = tensor.storage
        value = tensor.value
        shape = tensor.shape
        version = tensor.storage.version
    }

    /// The same shape and values in a storage of their own.
    func copy() -> SavedTensor {
        let count = shape.reduce(1, *)
        let copy = TensorStorage.make(count: count, zeroed: false,
                                     for: "a copy of a saved tensor of shape \(shape)")
        ck_scaled_add(Int64(count), 1, value, 0, copy.base)
        return SavedTensor(storage: copy, value: copy.base, shape: shape, version: copy.version)
    }

    private init(storage: TensorStorage, value: UnsafeMutablePointer<Float>, shape: [Int],
                 version: Int) {
        (self.storage, self.value, self.shape, self.version) = (storage, value, shape, version)
    }

    /// Whether nothing wrote to the storage since the tensor was saved.
    var isUnchanged: Bool { storage.version == version }
}

/// The buffer an input's gradient goes into during a node's backward pass, and whether the
/// operation adds to it (`accumulate`) or overwrites it.
struct GradientTarget {
    /// `count` floats, in the input's shape.
    let buffer: UnsafeMutablePointer<Float>
    let count: Int
    let accumulate: Bool

    /// `accumulate` as the C kernels take it.
    var accumulateFlag: Int32 { accumulate ? 1 : 0 }
    /// `accumulate` as a GEMM's β: C = A·B + β·C.
    var beta: Float { accumulate ? 1 : 0 }

    /// buffer (+)= scale · gradient, for a gradient of the input's count.
    func add(_ gradient: Tensor, scaledBy scale: Float = 1) {
        ck_scaled_add(Int64(count), scale, gradient.value, accumulateFlag, buffer)
    }

    /// For a kernel that can only overwrite: `write` fills a buffer of `count` floats, which
    /// is the target itself when it is not accumulated, else a temporary one then added.
    func overwriteOrAdd(_ write: (UnsafeMutablePointer<Float>) -> Void) {
        guard accumulate else { return write(buffer) }
        let temporary = TensorStorage.make(count: count, zeroed: false,
                                           for: "a temporary gradient of \(count) elements")
        // Kept until the add has read it: the buffer goes back to the pool with the object.
        withExtendedLifetime(temporary) {
            write(temporary.base)
            ck_scaled_add(Int64(count), 1, temporary.base, 1, buffer)
        }
    }
}
