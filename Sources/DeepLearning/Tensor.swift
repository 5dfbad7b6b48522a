/// An n-dimensional array of `Float`: a shape, contiguous row-major values, and a gradient
/// buffer of the same shape.
///
/// Storage is 64-byte aligned so that kernels can use aligned vector loads. A tensor has a
/// fixed *capacity*; layers keep their output tensors and reshape them within that capacity
/// when the batch size changes, so a training step allocates nothing after the first batch.
///
/// ```swift
/// let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
/// x.shape          // [2, 3]
/// x.values         // [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
/// ```
///
/// `Tensor` is a class: a parameter tensor is shared by the layer that uses it and the
/// optimizer that updates it.
///
/// Operations on tensors (`+`, `matmul`, `relu`, `sum()`, ...) are recorded for reverse-mode
/// automatic differentiation when one of their inputs requires a gradient, as in PyTorch:
///
/// ```swift
/// let x1 = Tensor(2, requiresGradient: true), x2 = Tensor(5, requiresGradient: true)
/// let y = sin(x1) + x1 * x2
/// y.backward()
/// x1.gradients    // [4.583853]: cos 2 + 5
/// ```
public final class Tensor {
    /// The size of each dimension, outermost first.
    ///
    /// (`@exclusivity(unchecked)`, here and on the other stored properties a training step
    /// reads or writes: no code passes them `inout` while also reaching them another way, so
    /// Swift's run-time exclusivity checks, run on every access of a training step, would
    /// only cost time.)
    @exclusivity(unchecked) public private(set) var shape: [Int]
    /// The number of elements the storage can hold without reallocating.
    public let capacity: Int
    /// The values, `count` of them, row-major. Internal: writes through this pointer are not
    /// counted in `version`; users write through `withUnsafeMutableBufferPointer(_:)`, which
    /// counts them, and library code that writes in place raises `storage.version` itself.
    let value: UnsafeMutablePointer<Float>
    /// The buffer `value` points into, shared with this tensor's views. Never reassigned
    /// (a `var` for `isKnownUniquelyReferenced`, which the graph's in-place fusions check).
    @exclusivity(unchecked) var storage: TensorStorage
    @exclusivity(unchecked) private var gradientStorage: TensorStorage?
    /// Whether the gradient is zero without the zeros having been written (after
    /// `zeroGradient()`): `gradientPointer` writes them before handing the buffer out, and a kernel
    /// that would add to the buffer overwrites it instead (`gradientForAccumulation()`).
    @exclusivity(unchecked) private var gradientIsUnwrittenZero = false

    /// A tensor of zeros.
    public convenience init(shape: [Int]) { self.init(shape: shape, for: "Tensor") }

    /// A tensor of zeros; a shape with too many elements to address, or whose buffer the
    /// system cannot allocate, stops with a message naming `owner`, built only for that
    /// message.
    init(shape: [Int], for owner: @autoclosure () -> String) {
        let count = Tensor.elementCount(of: shape, for: owner())
        self.shape = shape
        self.capacity = count
        self.count = count
        storage = TensorStorage.make(count: capacity, zeroed: true,
                                     for: "\(owner()): shape \(shape)")
        value = storage.base
    }

    /// The number of elements of `shape`; stops with a message naming `operation` and the
    /// shape when a dimension is negative, or when the count or its byte count does not fit
    /// in an Int. `operation` is built only for a message, so a layer's forward pass may name
    /// itself by interpolation without building a string on each call.
    static func elementCount(of shape: [Int], for operation: @autoclosure () -> String = "Tensor")
        -> Int {
        require(shape.allSatisfy { $0 >= 0 },
                "\(operation()): negative dimension in shape \(shape)")
        let count = shape.reduce(into: (product: 1, overflow: false)) { result, dimension in
            let (product, overflow) = result.product.multipliedReportingOverflow(by: dimension)
            result = (product, result.overflow || overflow)
        }
        require(!count.overflow && count.product <= Int.max / MemoryLayout<Float>.stride,
                "\(operation()): shape \(shape) has too many elements to address")
        return count.product
    }

    /// A layer's parameter before its values are drawn: zeros that require a gradient. A
    /// shape with too many elements to address, or whose buffer the system cannot allocate,
    /// stops with a message naming the parameter by `name` ("Linear(2 → 3): the weight"),
    /// built only for that message.
    convenience init(parameterShape shape: [Int], named name: @autoclosure () -> String) {
        self.init(shape: shape, for: name())
        isGradientRequired = true
    }

    /// A tensor of `shape` whose `count` values start at `value` in `storage`: a view of it
    /// (`reshaped`, `rows(_:)`), or a new tensor whose values an operation will write.
    convenience init(shape: [Int], storage: TensorStorage, value: UnsafeMutablePointer<Float>) {
        self.init(shape: shape, count: shape.reduce(1, *), storage: storage, value: value)
    }

    /// `init(shape:storage:value:)` for a caller that has `count`, the product of `shape`.
    init(shape: [Int], count: Int, storage: TensorStorage, value: UnsafeMutablePointer<Float>) {
        self.shape = shape
        self.capacity = count
        self.count = count
        self.storage = storage
        self.value = value
    }

    /// A tensor of `shape` whose values are unspecified (a buffer from the pool, for an
    /// operation to overwrite). A shape with too many elements to address, or whose buffer
    /// the system cannot allocate, stops with a message naming `operation`, built only for
    /// that message.
    convenience init(uninitializedShape shape: [Int],
                     for operation: @autoclosure () -> String = "Tensor") {
        self.init(uninitializedShape: shape,
                  count: Tensor.elementCount(of: shape, for: operation()), for: operation())
    }

    /// `init(uninitializedShape:for:)` for a caller that has `count`, the element count of
    /// `shape` (`elementCount(of:for:)`).
    private convenience init(uninitializedShape shape: [Int], count: Int,
                             for operation: @autoclosure () -> String = "Tensor") {
        let storage = TensorStorage.make(count: count, zeroed: false,
                                         for: "\(operation()): shape \(shape)")
        self.init(shape: shape, count: count, storage: storage, value: storage.base)
    }

    /// A tensor holding `values`, row-major; `values.count` must equal the product of `shape`.
    /// A leaf of the graph whose gradient `backward()` computes when `requiresGradient`.
    public convenience init(shape: [Int], values: [Float], requiresGradient: Bool = false) {
        // Checked before allocating: a shape far too large for its values is named as such.
        let count = Tensor.elementCount(of: shape)
        require(values.count == count,
                     "Tensor: \(values.count) values do not fill shape \(shape) (\(count) elements)")
        self.init(uninitializedShape: shape, count: count)
        value.update(from: values, count: count)
        isGradientRequired = requiresGradient
    }

    /// A scalar: shape `[]`, one value.
    ///
    /// ```swift
    /// let x = Tensor(2, requiresGradient: true)
    /// ```
    public convenience init(_ value: Float, requiresGradient: Bool = false) {
        self.init(uninitializedShape: [])
        self.value.pointee = value
        isGradientRequired = requiresGradient
    }

    /// Hands the tiny storages that only this tensor holds back for reuse
    /// (`TensorStorage.recycle(_:)`).
    deinit {
        TensorStorage.recycle(&storage)
        if gradientStorage != nil { TensorStorage.recycle(&gradientStorage!) }
    }

    // MARK: Automatic differentiation

    /// Whether `backward()` computes a gradient for this tensor: operations on it are then
    /// recorded (outside `withoutGradientRecording`). Settable on leaves only (tensors no
    /// recorded operation produced; setting true on a computed tensor, which has it, is
    /// allowed); an operation's result requires a gradient when one of its inputs does.
    public var requiresGradient: Bool {
        get { isGradientRequired }
        set {
            require(gradientNode == nil || newValue,
                    "Tensor.requiresGradient: only a leaf's can be turned off; this \(shape) tensor was computed by \(gradientNode!.operation) (use detached())")
            isGradientRequired = newValue
        }
    }
    @exclusivity(unchecked) var isGradientRequired = false

    /// The recorded operation that produced this tensor, which `backward()` runs to compute
    /// its inputs' gradients; nil for leaves (tensors created directly, or under
    /// `withoutGradientRecording`, or by `detached()`).
    @exclusivity(unchecked) public internal(set) var gradientNode: GradientNode?

    /// Whether no recorded operation produced this tensor.
    public var isLeaf: Bool { gradientNode == nil }

    /// The number of counted writes to this tensor's storage (shared with its views), as
    /// PyTorch's `_version`: `withUnsafeMutableBufferPointer(_:)` raises it.
    public var version: Int { storage.version }

    /// The hooks `onGradientAccumulated(_:)` added and their handles have not removed, in
    /// order.
    @exclusivity(unchecked) var gradientHooks: [GradientHook] = []
    /// During `backward()`: the gradient contributions to this leaf still to come; 0 outside.
    @exclusivity(unchecked) var pendingGradientContributions = 0

    /// The number of elements: the product of `shape`.
    @exclusivity(unchecked) public private(set) var count: Int

    /// The gradient of the loss with respect to this tensor, same shape as `value`. Allocated
    /// (zeroed) on first use; layers accumulate into it and optimizers zero it. For writing:
    /// the tensor has a gradient afterwards (`hasGradient`); readers use `gradientForReading`.
    ///
    /// Read it through this property after `zeroGradient()`, not through a pointer kept from
    /// before: zeroing is deferred until the buffer is next asked for (a write counted in the
    /// version of the gradient's storage). Code that writes to the gradient takes
    /// `writableGradientPointer`.
    var gradientPointer: UnsafeMutablePointer<Float> {
        let storage = gradientStorageAllocated
        if gradientIsUnwrittenZero {
            storage.base.update(repeating: 0, count: capacity)
            storage.versionPointer.pointee &+= 1
            gradientIsUnwrittenZero = false
        }
        return storage.base
    }

    /// `gradientPointer` for writing: raises the version of the gradient's storage, which the
    /// tensor `gradient` returns shares, so that a node which saved that tensor detects the
    /// write.
    var writableGradientPointer: UnsafeMutablePointer<Float> {
        let pointer = gradientPointer
        gradientStorageAllocated.versionPointer.pointee &+= 1
        return pointer
    }

    /// The gradient buffer for a kernel that adds into it, and whether the kernel must add to
    /// its contents (true) or overwrite them (false: right after `zeroGradient()`, when the
    /// buffer holds stale values standing for zeros). The kernel must write every element;
    /// the gradient counts as written afterwards (its storage's version is raised). This saves
    /// the pass that writes the zeros and the one that reads them back, as PyTorch's
    /// `zero_grad(set_to_none=True)` does.
    ///
    /// `backward()` accumulates a leaf's gradient through it too.
    func gradientForAccumulation() -> GradientTarget {
        let accumulate = !gradientIsUnwrittenZero
        gradientIsUnwrittenZero = false
        let storage = gradientStorageAllocated
        storage.versionPointer.pointee &+= 1
        return GradientTarget(buffer: storage.base, count: count, accumulate: accumulate)
    }

    /// Whether this tensor's gradient buffer is in `storage` (which `gradient` shares).
    func hasGradient(in storage: TensorStorage) -> Bool { gradientStorage === storage }

    /// Whether this tensor has a gradient: one was written since the last `zeroGradient()`
    /// (by a backward pass, a writing accessor, or asking for `gradient`). False before any,
    /// and after `zeroGradient()` until the next: PyTorch's `.grad` is None then. Optimizers
    /// leave a parameter without one out of their step, as PyTorch's do.
    public var hasGradient: Bool { gradientStorage != nil && !gradientIsUnwrittenZero }

    /// The gradient buffer for reading it without giving the tensor a gradient
    /// (`hasGradient` is unchanged): zeros when it has none (written then, a write counted in
    /// the version of the gradient's storage).
    var gradientForReading: UnsafePointer<Float> {
        let hadGradient = hasGradient
        let buffer = gradientBuffer
        if !hadGradient {
            buffer.update(repeating: 0, count: capacity)
            gradientStorageAllocated.versionPointer.pointee &+= 1
            gradientIsUnwrittenZero = true
        }
        return UnsafePointer(buffer)
    }

    /// The gradient's storage, allocated (zeroed) on first use, whatever it holds.
    private var gradientBuffer: UnsafeMutablePointer<Float> { gradientStorageAllocated.base }

    /// The gradient's storage object, allocated (zeroed) on first use.
    var gradientStorageAllocated: TensorStorage {
        if gradientStorage == nil { allocateGradientStorage() }
        // One load for both paths lets the compiler drop the retain and release around uses.
        return gradientStorage.unsafelyUnwrapped
    }

    /// Gives the tensor its gradient's storage, zeroed. Never inlined: the check above stays
    /// small enough to inline where a gradient is read or written.
    @inline(never)
    private func allocateGradientStorage() {
        gradientStorage = TensorStorage.make(count: capacity, zeroed: true,
                                             for: "Tensor: the gradient of shape \(shape)")
        gradientStorage!.holdsGradient = true
    }

    /// Whether nothing but its values tells this tensor from a new one of its shape: it is
    /// no view, requires no gradient, has none, nor a node or a hook.
    var isPlain: Bool {
        gradientStorage == nil && gradientNode == nil && !isGradientRequired
            && gradientHooks.isEmpty && value == storage.base
    }

    /// Whether this tensor, which nothing else holds, can be the result of an operation
    /// written over its values instead of a new tensor on its storage (`+` and `-` in place):
    /// nothing tells it from one, as it has no gradient nor hook and its capacity is its
    /// count. Its node, if any, is replaced by the result's (`attach(_:)`), or dropped when
    /// the operation records none (`makeUnrecorded()`).
    var isReusableAsResult: Bool {
        gradientStorage == nil && gradientHooks.isEmpty && capacity == count
    }

    /// The gradient as a tensor of this tensor's shape, sharing the gradient's buffer (no
    /// copy: later backward passes change it, and writes to it change the gradient), or nil
    /// when no gradient has been computed or asked for yet. PyTorch's `.grad`.
    ///
    /// ```swift
    /// let w = Tensor(shape: [2], values: [1, 2], requiresGradient: true)
    /// (w * w).sum().backward()
    /// w.gradient?.values   // [2.0, 4.0]
    /// ```
    public var gradient: Tensor? {
        guard gradientStorage != nil else { return nil }
        _ = gradientPointer // writes the deferred zeros, if any
        let storage = gradientStorageAllocated
        return Tensor(shape: shape, storage: storage, value: storage.base)
    }

    /// The values as an array (a copy).
    public var values: [Float] { Array(UnsafeBufferPointer(start: value, count: count)) }

    /// The gradient as an array (a copy); zeros when it has none.
    public var gradients: [Float] { Array(UnsafeBufferPointer(start: gradientForReading, count: count)) }

    /// Sets every gradient to zero and leaves the tensor without a gradient, as PyTorch's
    /// `zero_grad(set_to_none=True)`: an optimizer's step leaves it out until a backward pass
    /// (or a write) gives it one again. Takes no time: the zeros are written when the gradient
    /// is next read, or never, when a layer's next backward pass overwrites the buffer instead
    /// of adding to it.
    public func zeroGradient() {
        if gradientStorage != nil { gradientIsUnwrittenZero = true }
    }

    /// `existing` reshaped to `shape` when its capacity allows, otherwise a new tensor of that
    /// shape, whose buffer `buffer` names when the system cannot allocate it (built only for
    /// that message). Values are unspecified after a reshape: callers overwrite them.
    static func reusing(_ existing: Tensor?, shape: [Int],
                        for buffer: @autoclosure () -> String = "Tensor") -> Tensor {
        if let existing, existing.shape == shape { return existing.rewritten() }
        return resized(existing, to: shape, for: buffer())
    }

    /// `reusing(existing, shape: [rows, columns])` without building the shape array when the
    /// shape is already right: the form the training hot path uses.
    static func reusing(_ existing: Tensor?, rows: Int, columns: Int) -> Tensor {
        if let existing, existing.isMatrix(rows: rows, columns: columns) {
            return existing.rewritten()
        }
        return resized(existing, to: [rows, columns])
    }

    /// Whether the shape is `[rows, columns]`, checked without building that array.
    func isMatrix(rows: Int, columns: Int) -> Bool {
        shape.count == 2 && shape[0] == rows && shape[1] == columns
    }

    /// `reusing(existing, shape: [batch] + sampleShape)` without building that array when the
    /// shape is already right: for batches of samples of any shape.
    static func reusing(_ existing: Tensor?, batch: Int, sampleShape: [Int]) -> Tensor {
        if let existing, existing.shape.count == sampleShape.count + 1,
           existing.shape[0] == batch, existing.shape.dropFirst().elementsEqual(sampleShape) {
            return existing.rewritten()
        }
        return resized(existing, to: [batch] + sampleShape)
    }

    private static func resized(_ existing: Tensor?, to shape: [Int],
                                for buffer: @autoclosure () -> String = "Tensor") -> Tensor {
        let needed = shape.reduce(1, *)
        guard let existing, existing.capacity >= needed else {
            return Tensor(shape: shape, for: buffer())
        }
        existing.shape = shape
        existing.count = needed
        return existing.rewritten()
    }

    /// This tensor with its version raised: a layer reusing it is about to overwrite its
    /// values through `value`, so that a node of the graph which saved it (a layer's output
    /// used by an operation) detects the change in `backward()` instead of reading new values.
    private func rewritten() -> Tensor {
        countInPlaceWrite()
        return self
    }

    /// Raises `version` (shared with the views): library code that writes this tensor's
    /// values in place through `value` (an optimizer's step, `load`, an initializer) calls it
    /// once per call, so that a node of the graph which saved the tensor detects the change.
    func countInPlaceWrite() { storage.versionPointer.pointee &+= 1 }

}

extension Tensor: CustomStringConvertible {
    /// The shape, then the values nested by axis, as PyTorch prints a tensor:
    /// "Tensor[2, 3] [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]"; a scalar's value alone
    /// ("Tensor[] 2.5"). A tensor of more than `Tensor.summaryThreshold` elements shows the
    /// first and last `Tensor.summaryEdgeItems` along each longer axis with "..." between
    /// (PyTorch's `threshold` and `edgeitems`), so that describing a large tensor reads only
    /// the values it shows. An empty axis counts as one element there, so that an empty
    /// tensor of many rows ("Tensor[5000, 0] [[], [], [], ..., [], [], []]") is summarized
    /// too, rather than listing each empty row.
    public var description: String {
        let blocks = shape.reduce(1) { product, size in
            let (next, overflow) = product.multipliedReportingOverflow(by: Swift.max(size, 1))
            return overflow ? Int.max : next
        }
        let summarized = blocks > Tensor.summaryThreshold
        let edge = Tensor.summaryEdgeItems
        // The values of the block at `axis` that starts at element `offset`.
        func values(axis: Int, offset: Int) -> String {
            guard axis < shape.count else { return "\(value[offset])" }
            let size = shape[axis]
            let stride = shape[(axis + 1)...].reduce(1, *)
            let indices: [Int?] = summarized && size > 2 * edge
                ? Array(0..<edge) + [nil] + Array(size - edge..<size) : Array(0..<size)
            let items = indices.map { $0.map { values(axis: axis + 1, offset: offset + $0 * stride) } ?? "..." }
            return "[\(items.joined(separator: ", "))]"
        }
        return "Tensor\(shape) \(values(axis: 0, offset: 0))"
    }

    /// The element count above which `description` summarizes (PyTorch's default).
    static let summaryThreshold = 1000
    /// The values `description` shows at each end of an axis it summarizes.
    static let summaryEdgeItems = 3
}
