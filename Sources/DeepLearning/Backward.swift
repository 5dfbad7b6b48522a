import CKernels

extension Tensor {
    /// Computes the gradient of this tensor with respect to every leaf it was computed from
    /// that requires a gradient, and *adds* it to the leaf's gradient (`gradient`,
    /// `gradients`): gradients accumulate across calls until `zeroGradient()`. PyTorch's
    /// `backward()`.
    ///
    /// Without an argument this tensor must have one element (a loss); otherwise
    /// `outputGradient`, of this tensor's shape, is dLoss/dThis. A tensor used by several
    /// operations receives the sum of their gradients. The recorded nodes run in reverse
    /// topological order, each once, and are freed as they go: a second `backward()` through
    /// the same graph stops with a message, as does a node whose saved tensor was modified
    /// in place since it was saved. A node that saved a leaf's gradient (`matmul(w,
    /// w.gradient!)`) reads it as saved, before this pass adds into it, as PyTorch's does;
    /// PyTorch stops instead when its engine adds into that gradient before the node runs
    /// (`matmul(v, w.grad).sum() + (w * 3).sum()`), which here gives the values of the other
    /// order.
    ///
    /// ```swift
    /// let x = Tensor(shape: [3], values: [1, 2, 3], requiresGradient: true)
    /// (x * x).sum().backward()
    /// x.gradients   // [2.0, 4.0, 6.0]
    /// ```
    public func backward(_ outputGradient: Tensor? = nil) {
        require(requiresGradient,
                "backward: this \(shape) tensor requires no gradient (no input of the operations that computed it required one, or they ran without recording)")
        if let outputGradient {
            require(outputGradient.shape == shape,
                    "backward: the output gradient of shape \(outputGradient.shape) does not match the tensor's shape \(shape)")
        } else {
            require(count == 1,
                    "backward: a tensor of shape \(shape) has \(count) elements; pass its output gradient, or call backward() on a scalar")
        }
        guard let root = gradientNode else {
            // A leaf: its gradient is the output gradient itself.
            let target = gradientForAccumulation()
            if let outputGradient {
                ck_scaled_add(Int64(count), 1, outputGradient.value, target.accumulateFlag,
                              target.buffer)
            } else {
                target.buffer.pointee = target.accumulate ? target.buffer.pointee + 1 : 1
            }
            runGradientHooks()
            return
        }
        root.requireNotFreed()
        // Used as it is: no node writes into the gradient of the root (it has no consumers).
        if let outputGradient {
            root.outputGradient = outputGradient
            root.ownsOutputGradient = false
        } else {
            let one = GradientTensorCache.tensor(shape: shape)
            one.value.pointee = 1
            root.outputGradient = one
        }
        GraphExecution.run(from: root)
    }

    /// Calls `hook` with this leaf each time a backward pass has finished accumulating its
    /// gradient (after its last contribution of that pass, while the pass goes on), so that
    /// data-parallel training can start reducing a gradient early: `backward()` through the
    /// graph, and for a parameter of a `Model`'s layers, the model's fused backward passes
    /// too (`Model.fit` on a model of `Function`s, `Model.backward(_:)`,
    /// `Model.accumulateParameterGradients`), in which a `Linear`'s weight with a hook does
    /// not take its step in its gradient's product. For a parameter of a `Function` of your
    /// own called as a layer (without a graph form), the function's `backward(_:)` is one
    /// contribution: through the graph the hooks run once, after it or after a later use of
    /// the parameter; on the fused path right after it. Called by hand, that `backward(_:)`
    /// runs no hook. Hooks run in the order they were added, once per pass that reaches the
    /// parameter: in a step of `fit` whose `CustomLoss` uses the parameter too (a penalty
    /// written in the loss), the hooks run after the loss's backward pass and again after the
    /// model's. The gradient of `fit`'s `penalties` is added after both passes and their
    /// hooks. PyTorch's
    /// `register_post_accumulate_grad_hook`.
    ///
    /// ```swift
    /// weight.onGradientAccumulated { print("dW ready:", $0.gradients) }
    /// ```
    ///
    /// Returns a handle whose `remove()` takes the hook off again.
    @discardableResult
    public func onGradientAccumulated(_ hook: @escaping (Tensor) -> Void) -> GradientHookHandle {
        require(isLeaf && requiresGradient,
                "Tensor.onGradientAccumulated: only a leaf that requires a gradient accumulates one; this \(shape) tensor \(isLeaf ? "requires no gradient" : "was computed by \(gradientNode!.operation)")")
        let added = GradientHook(hook)
        gradientHooks.append(added)
        return GradientHookHandle(leaf: self, hook: added)
    }

    /// Calls this leaf's `onGradientAccumulated` hooks, in the order they were added.
    func runGradientHooks() {
        for hook in gradientHooks { hook.body(self) }
    }
}

/// The engine behind `Tensor.backward()`: counts each node's consumers in the graph, then runs
/// the nodes whose consumers have all delivered their gradient (Kahn's algorithm, last ready
/// first), so that each node runs once, after every use of its output.
enum GraphExecution {
    static func run(from root: GradientNode) {
        // One stack for both walks: the count's, then the ready nodes.
        withUnsafeTemporaryAllocation(of: GradientNode.self,
                                      capacity: NodeStack.inlineCapacity) { buffer in
            var nodes = NodeStack(buffer.baseAddress!)
            nodes.push(root)
            // The caller's output gradient may be a leaf's gradient (`y.backward(x.gradient!)`),
            // which the pass adds into while nodes read the output gradient: they read a copy.
            let callersStorage = root.ownsOutputGradient ? nil : root.outputGradient?.storage
            if countConsumers(from: root, stack: &nodes, findingGradient: callersStorage) {
                root.outputGradient = root.outputGradient!.valueCopy()
                root.ownsOutputGradient = true
            }
            nodes.push(root)
            while let node = nodes.pop() {
                if let gradient = node.outputGradient {
                    node.backward(gradient)
                }
                for index in 0..<node.inputCount {
                    switch node.takeInput(index) {
                    case .none:
                        break
                    case .node(let input):
                        input.pendingConsumers -= 1
                        if input.pendingConsumers == 0 { nodes.push(input) }
                    case .leaf(let leaf):
                        leaf.pendingGradientContributions -= 1
                        if leaf.pendingGradientContributions == 0 && !leaf.gradientHooks.isEmpty {
                            leaf.runGradientHooks()
                        }
                    }
                }
                node.free()
            }
        }
    }

    /// Sets every node's `pendingConsumers` (and every leaf's `pendingGradientContributions`,
    /// with hooks or not, so that a hook added during the pass finds the count right) to its
    /// number of uses in the graph below `root`, and has every node copy the gradients it
    /// saved (`copySavedGradients()`) before the pass adds into them.
    /// Stops with a message when a node was freed by an earlier `backward()`. `stack` holds
    /// `root` on entry and is empty on return. Returns whether a leaf's gradient is in
    /// `storage` (false when it is nil).
    private static func countConsumers(from root: GradientNode, stack: inout NodeStack,
                                       findingGradient storage: TensorStorage?) -> Bool {
        var found = false
        root.isVisited = true
        while let node = stack.pop() {
            node.copySavedGradients()
            for index in 0..<node.inputCount {
                switch node.input(index) {
                case .none:
                    break
                case .node(let input):
                    input.requireNotFreed()
                    input.pendingConsumers += 1
                    if !input.isVisited {
                        input.isVisited = true
                        stack.push(input)
                    }
                case .leaf(let leaf):
                    leaf.pendingGradientContributions += 1
                    if let storage, leaf.hasGradient(in: storage) { found = true }
                }
            }
        }
        return found
    }
}

/// The stack of `GraphExecution`'s walks: its first `inlineCapacity` nodes in a buffer the
/// caller provides (on its stack), the others in an array, so that the backward pass of a
/// small graph allocates nothing for its walks. Last in, first out; must be empty when the
/// buffer goes away.
private struct NodeStack {
    static let inlineCapacity = 16
    /// `inlineCapacity` slots, the first `inlineCount` initialized.
    private let inline: UnsafeMutablePointer<GradientNode>
    private var inlineCount = 0
    /// The nodes pushed while the inline slots were full, above them.
    private var more: [GradientNode] = []

    init(_ buffer: UnsafeMutablePointer<GradientNode>) { inline = buffer }

    mutating func push(_ node: GradientNode) {
        if more.isEmpty && inlineCount < NodeStack.inlineCapacity {
            (inline + inlineCount).initialize(to: node)
            inlineCount += 1
        } else {
            more.append(node)
        }
    }

    mutating func pop() -> GradientNode? {
        if let node = more.popLast() { return node }
        guard inlineCount > 0 else { return nil }
        inlineCount -= 1
        return (inline + inlineCount).move()
    }
}
