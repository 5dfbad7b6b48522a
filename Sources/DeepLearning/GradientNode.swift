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
///     init(input: Tensor) { super.init("neg", inputs: [input], outputShape: input.shape) }
///     override func backward(_ outputGradient: Tensor) {
///         // dx (+)= -dy, or nothing when the input needs no gradient
///         gradientTarget(forInput: 0)?.add(outputGradient, scaledBy: -1)
///     }
/// }
/// ```
public class GradientNode {
    /// The operation's name, for messages ("matmul", "+").
    public let operation: String
    /// The shape of the output, which the gradient passed to `backward(_:)` has.
    let outputShape: [Int]
    /// Where each input's gradient goes; empty once the node has run.
    @exclusivity(unchecked) private(set) var inputs: [Edge]
    /// The tensors the backward pass reads; empty once the node has run.
    @exclusivity(unchecked) private(set) var saved: [SavedTensor]
    /// The gradient of the output, summed over the output's uses; nil until the first
    /// consumer delivered it.
    @exclusivity(unchecked) var outputGradient: Tensor?
    /// During `backward()`: consumers whose gradient contributions are still to come.
    @exclusivity(unchecked) var pendingConsumers = 0
    /// During `backward()`: whether the dependency count has reached this node.
    @exclusivity(unchecked) var isVisited = false
    /// Whether `backward()` has run this node and freed what it kept.
    @exclusivity(unchecked) private(set) var isFreed = false

    /// A node for `operation` on `inputs` (edges to those that require a gradient), saving
    /// `saving` for the backward pass, whose output has `outputShape`.
    init(_ operation: String, inputs: [Tensor], saving: [Tensor] = [], outputShape: [Int]) {
        self.operation = operation
        self.outputShape = outputShape
        self.inputs = inputs.map(Edge.init)
        self.saved = saving.map(SavedTensor.init)
    }

    /// Frees the graph below this node without recursion: a chain of a million operations that
    /// never ran `backward()` would otherwise free each node from its successor's deinit and
    /// overflow the stack. Nodes referenced only from here have their edges taken over, so
    /// that each is freed by this loop with no edges of its own left.
    deinit {
        var stack: [GradientNode] = []
        func takeEdges(_ edges: inout [Edge]) {
            for edge in edges {
                if case .node(let node) = edge { stack.append(node) }
            }
            edges = []
        }
        takeEdges(&inputs)
        while var node = stack.popLast() {
            if isKnownUniquelyReferenced(&node) { takeEdges(&node.inputs) }
        }
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
        switch inputs[index] {
        case .none:
            return nil
        case .leaf(let tensor):
            let (buffer, accumulate) = tensor.gradientForAccumulation()
            return GradientTarget(buffer: buffer, count: tensor.count, accumulate: accumulate)
        case .node(let node):
            if let gradient = node.outputGradient {
                return GradientTarget(buffer: gradient.value, count: gradient.count,
                                      accumulate: true)
            }
            let gradient = Tensor(uninitializedShape: node.outputShape)
            node.outputGradient = gradient
            return GradientTarget(buffer: gradient.value, count: gradient.count,
                                  accumulate: false)
        }
    }

    /// The values of saved tensor `index`, after checking that nothing wrote to it since it
    /// was saved (stops with a message naming the operation otherwise).
    func savedValue(_ index: Int) -> UnsafeMutablePointer<Float> {
        let saved = saved[index]
        require(saved.storage.version == saved.version,
                "backward: \(operation) saved a tensor of shape \(saved.shape) for its backward pass, which was modified afterwards (version \(saved.version), now \(saved.storage.version)); compute it anew or modify a copy")
        return saved.value
    }

    /// The shape of saved tensor `index`.
    func savedShape(_ index: Int) -> [Int] { saved[index].shape }

    /// Stops with a message when this node's graph was already freed by a `backward()`.
    func requireNotFreed() {
        require(!isFreed,
                "backward: \(operation) (output shape \(outputShape)) was already run by an earlier backward(), which freed its graph; compute the result anew to differentiate it again")
    }

    /// Drops the edges, the saved tensors and the output gradient: after `backward(_:)`.
    func free() {
        inputs = []
        saved = []
        outputGradient = nil
        isFreed = true
    }
}

/// Where an input's gradient goes from a node: the input's own node, the input itself (a
/// leaf that requires a gradient), or nowhere.
enum Edge {
    case none
    case leaf(Tensor)
    case node(GradientNode)

    init(_ tensor: Tensor) {
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
    let storage: TensorStorage
    let value: UnsafeMutablePointer<Float>
    let shape: [Int]
    let version: Int

    init(_ tensor: Tensor) {
        storage = tensor.storage
        value = tensor.value
        shape = tensor.shape
        version = tensor.storage.version
    }
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

    /// buffer (+)= scale · gradient, for a gradient of the input's count.
    func add(_ gradient: Tensor, scaledBy scale: Float = 1) {
        ck_scaled_add(Int64(count), scale, gradient.value, accumulateFlag, buffer)
    }

    /// For a kernel that can only overwrite: `write` fills a buffer of `count` floats, which
    /// is the target itself when it is not accumulated, else a temporary one then added.
    func overwriteOrAdd(_ write: (UnsafeMutablePointer<Float>) -> Void) {
        guard accumulate else { return write(buffer) }
        let temporary = TensorStorage(count: count, zeroed: false)
        write(temporary.base)
        ck_scaled_add(Int64(count), 1, temporary.base, 1, buffer)
    }
}
