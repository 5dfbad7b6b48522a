import Synchronization

/// The backward pass of a `Function` called as a layer without a graph form of its own: it
/// calls the function's `backward(_:)`, which reads the state of the function's last
/// `forward(_:)`. So the node runs only while its call is still the function's last one
/// (`FunctionCalls`); otherwise it stops with a message rather than compute the gradient of
/// another call.
///
/// It saves what that `backward(_:)` may read, as the library's layers' nodes do: the output
/// the function returned, its input and its parameters; a write to any of them before the
/// node runs (a direct `forward(_:)`, an optimizer's step) stops the backward pass.
///
/// Its edges lead to the input and to the function's parameters, into whose gradients the
/// function's `backward(_:)` adds itself: `GraphExecution` counts the node among each
/// parameter's contributions and runs the parameter's hooks after its last one.
final class FunctionNode: GradientNode {
    private let function: any Function
    /// This call's number in `FunctionCalls`.
    private let call: UInt64

    init(_ function: any Function, input: Tensor, output: Tensor) {
        self.function = function
        call = FunctionCalls.recordCall(of: function)
        let parameters = function.parameters
        super.init(.call(of: function), inputs: [input], saving: [output, input] + parameters,
                   outputShape: output.shape)
        for parameter in parameters where parameter.isLeaf { appendInput(parameter) }
    }

    /// A node that never ran (its graph was dropped) still waits in the ledger.
    deinit {
        if !isFreed { _ = FunctionCalls.finish(call, of: function) }
    }

    /// Keeps the saved tensors: the function reads its own state, not them, so a copy would
    /// only hide a write to a gradient it reads (the check stops on it instead).
    override func copySavedGradients() {}

    override func backward(_ outputGradient: Tensor) {
        require(FunctionCalls.finish(call, of: function),
                "backward: \(function) was called again after this call was recorded, and a Function keeps the state of its last forward pass only; call backward() before calling it again, or write its callAsFunction with operations")
        requireSavedTensorsUnchanged()
        let inputGradient = function.backward(outputGradient)
        let inputShape = savedShape(1)
        require(inputGradient.shape == inputShape,
                "backward: \(function) returned an input gradient of shape \(inputGradient.shape) for its input of shape \(inputShape)")
        gradientTarget(forInput: 0)?.add(inputGradient)
    }
}

/// The last call of each `Function` that a live `FunctionNode` recorded, so that a node can
/// tell whether the function's state is still its call's. A function has an entry while a
/// node of it waits for `backward()`; a call that records no node (gradient recording off)
/// still overwrites the state, so it marks the entry as belonging to no node.
enum FunctionCalls {
    private struct Entry {
        /// The number of the function's last call; 0 after a call that recorded no node.
        var lastCall: UInt64
        /// The nodes of the function that have not run or been freed.
        var waitingNodes: Int
    }

    private struct Ledger {
        var entries: [ObjectIdentifier: Entry] = [:]
        var callsRecorded: UInt64 = 0
    }

    private static let ledger = Mutex(Ledger())

    /// Notes a call of `function` whose node will run its backward pass; returns its number.
    static func recordCall(of function: any Function) -> UInt64 {
        ledger.withLock { ledger in
            ledger.callsRecorded += 1
            let call = ledger.callsRecorded
            let waiting = ledger.entries[ObjectIdentifier(function)]?.waitingNodes ?? 0
            ledger.entries[ObjectIdentifier(function)] = Entry(lastCall: call,
                                                               waitingNodes: waiting + 1)
            return call
        }
    }

    /// Notes a call of `function` that records no node: any waiting node's state is gone.
    static func recordUnrecordedCall(of function: any Function) {
        ledger.withLock { ledger in
            ledger.entries[ObjectIdentifier(function)]?.lastCall = 0
        }
    }

    /// Notes that the node of `call` no longer waits (it runs, or it was freed unrun), and
    /// returns whether `call` was still the last call of `function`.
    static func finish(_ call: UInt64, of function: any Function) -> Bool {
        ledger.withLock { ledger in
            let key = ObjectIdentifier(function)
            guard var entry = ledger.entries[key] else { return false }
            entry.waitingNodes -= 1
            ledger.entries[key] = entry.waitingNodes == 0 ? nil : entry
            return entry.lastCall == call
        }
    }
}
