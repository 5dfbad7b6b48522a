import CKernels

// `+ - * /` between tensors (NumPy broadcasting, see `Broadcasting`) and with scalars, as
// recorded operations: one kernel pass forward, one per input gradient backward.

extension Tensor {
    /// Element-wise sum, broadcast: `[4, 3] + [3]` adds the vector to each row.
    ///
    /// `a` is taken over (`consuming`): when it is a 2-D product that nothing else holds, as
    /// in `matmul(x, w) + b`, the bias is added in its buffer and joins its node
    /// (`MatrixProductNode.fusingBias(into:_:)`); otherwise, when nothing else holds it and
    /// it has the result's shape, the sum is written into its buffer (`isWritableInPlace`).
    public static func + (a: consuming Tensor, b: Tensor) -> Tensor {
        if MatrixProductNode.fusingBias(into: &a, b) { return a }
        let inPlace = isWritableInPlace(&a)
        return binary(.add, a, b, writingInto: inPlace ? .a : nil)
    }
    /// Element-wise difference, broadcast; written into `a`'s buffer when nothing else holds
    /// it and it has the result's shape (`isWritableInPlace`).
    public static func - (a: consuming Tensor, b: Tensor) -> Tensor {
        let inPlace = isWritableInPlace(&a)
        return binary(.subtract, a, b, writingInto: inPlace ? .a : nil)
    }
    /// Element-wise product, broadcast.
    public static func * (a: Tensor, b: Tensor) -> Tensor { binary(.multiply, a, b) }
    /// Element-wise quotient, broadcast. The gradient reaching `b` is −((dy / b) · (a / b)),
    /// within 2 ulp of the exact value; at the edges of the float range it differs from
    /// PyTorch's −dy · ((a / b) / b): where dy / b overflows and a is 0, ours is NaN and
    /// PyTorch's −0; where (a / b) / b overflows and dy is 0, PyTorch's is NaN and ours 0.
    public static func / (a: Tensor, b: Tensor) -> Tensor { binary(.divide, a, b) }

    /// `a` plus `b` in every element; in `a`'s buffer when nothing else holds it.
    public static func + (a: consuming Tensor, b: Float) -> Tensor {
        let inPlace = isWritableInPlace(&a)
        return binary(.add, a, Tensor(b), writingInto: inPlace ? .a : nil)
    }
    /// `a` plus `b` in every element; in `b`'s buffer when nothing else holds it.
    public static func + (a: Float, b: consuming Tensor) -> Tensor {
        let inPlace = isWritableInPlace(&b)
        return binary(.add, Tensor(a), b, writingInto: inPlace ? .b : nil)
    }
    /// `a` minus `b` in every element; in `a`'s buffer when nothing else holds it.
    public static func - (a: consuming Tensor, b: Float) -> Tensor {
        let inPlace = isWritableInPlace(&a)
        return binary(.subtract, a, Tensor(b), writingInto: inPlace ? .a : nil)
    }
    /// `a` minus every element of `b`; in `b`'s buffer when nothing else holds it.
    public static func - (a: Float, b: consuming Tensor) -> Tensor {
        let inPlace = isWritableInPlace(&b)
        return binary(.subtract, Tensor(a), b, writingInto: inPlace ? .b : nil)
    }
    /// Every element of `a` times `b`.
    public static func * (a: Tensor, b: Float) -> Tensor { binary(.multiply, a, Tensor(b)) }
    /// `a` times every element of `b`.
    public static func * (a: Float, b: Tensor) -> Tensor { binary(.multiply, Tensor(a), b) }
    /// Every element of `a` divided by `b` (its gradient as the element-wise `/`'s).
    public static func / (a: Tensor, b: Float) -> Tensor { binary(.divide, a, Tensor(b)) }
    /// `a` divided by every element of `b` (its gradient as the element-wise `/`'s).
    public static func / (a: Float, b: Tensor) -> Tensor { binary(.divide, Tensor(a), b) }

    /// The operand of `+` or `-` whose buffer takes the result.
    private enum Operand { case a, b }

    /// Whether the result of `+` or `-` may be written over `operand`'s values, given that
    /// the operation has its shape: nothing but this reference holds the tensor or its storage
    /// (no other tensor, view or node can see the values change: `+` and `-` save no input),
    /// and it is not a leaf whose gradient is wanted (its hooks would see its values).
    private static func isWritableInPlace(_ operand: inout Tensor) -> Bool {
        (operand.gradientNode != nil || !operand.requiresGradient)
            && isKnownUniquelyReferenced(&operand) && isKnownUniquelyReferenced(&operand.storage)
    }

    /// `a op b` broadcast, recorded when an input requires a gradient; written into the
    /// buffer of `inPlace` when it has the result's shape (the kernel reads each element
    /// before it writes it). The result is then that operand itself when nothing tells it
    /// from a new tensor on its storage (`isReusableAsResult`: nothing else holds it, see
    /// `isWritableInPlace`), its node the input of the result's; otherwise a new tensor on
    /// that storage.
    private static func binary(_ op: BinaryOperation, _ a: Tensor, _ b: Tensor,
                               writingInto inPlace: Operand? = nil) -> Tensor {
        // The shapes read once: each read of a class's array property retains and releases it.
        let aShape = a.shape, bShape = b.shape
        let shape = Broadcasting.shape(aShape, bShape, operation: op.symbol)
        let records = recordsGradient(a, b)
        let result: Tensor
        if let inPlace, (inPlace == .a ? aShape : bShape) == shape {
            let target = inPlace == .a ? a : b
            if target.isReusableAsResult {
                result = target
                if !records { result.makeUnrecorded() }
            } else {
                result = Tensor(shape: shape, storage: target.storage, value: target.value)
            }
            result.countInPlaceWrite()
        } else {
            result = Tensor(uninitializedShape: shape)
        }
        Broadcasting.withLayout(of: aShape, bShape, in: shape,
                                operation: op.symbol) { rank, shape, aStrides, bStrides in
            ck_binary(op.kernel, rank, shape, a.value, aStrides, b.value, bStrides, 0,
                      result.value)
        }
        if records {
            // The node takes its edges from the inputs before the result (perhaps one of
            // them) takes the node.
            result.attach(BinaryNode(op, a, b, shapes: (aShape, bShape), output: result))
        }
        return result
    }
}

/// The four element-wise binary operations.
enum BinaryOperation {
    case add, subtract, multiply, divide

    var symbol: String {
        switch self {
        case .add: "+"
        case .subtract: "-"
        case .multiply: "*"
        case .divide: "/"
        }
    }

    var kernel: ck_binary_op {
        switch self {
        case .add: CK_BINARY_ADD
        case .subtract: CK_BINARY_SUBTRACT
        case .multiply: CK_BINARY_MULTIPLY
        case .divide: CK_BINARY_DIVIDE
        }
    }
}

/// The backward pass of `a op b`: each input's gradient summed over the dimensions it was
/// broadcast along (`ck_binary_gradient`). Saves the inputs for `*` and `/`, and for `/` whose
/// `b` has the output's shape and needs a gradient, when `a` has that shape too and needs
/// one or needs none (`2 / x`), the output too (b's gradient then divides once instead of
/// twice, `backwardBothInOnePass`, `backwardDivisorFromQuotient`). The gradient of
/// `a` in `a + b` and `a - b`, when `a` has the output's shape, is the output's gradient
/// itself, passed on without a copy (`passGradient(_:owned:toInput:)`); that of a bias `b`
/// (`[n]` added to every row of `[..., n]`) is the layers' bias gradient (`ck_bias_grad`:
/// each column summed in Float, in row order, as `Linear`'s), the others' sums add in Double.
final class BinaryNode: GradientNode {
    private let op: BinaryOperation
    /// The inputs' shapes, for `+` and `-`, which save no inputs (the saved inputs of `*`
    /// and `/` have them).
    private let shapes: (a: [Int], b: [Int])?

    /// The node of `a op b`, the inputs of shapes `shapes`, giving `output` (all borrowed:
    /// `__shared`, see `GradientNode.init(_:input:_:saving:_:outputShape:)`).
    init(_ op: BinaryOperation, _ a: __shared Tensor, _ b: __shared Tensor,
         shapes: __shared (a: [Int], b: [Int]), output: __shared Tensor) {
        self.op = op
        let savesInputs = op == .multiply || op == .divide
        self.shapes = savesInputs ? nil : shapes
        let outputShape = output.shape
        super.init(op.symbol, input: a, b, saving: savesInputs ? a : nil, savesInputs ? b : nil,
                   outputShape: outputShape)
        if op == .divide, shapes.b == outputShape,
           bothInputsNeedGradients ? shapes.a == outputShape : onlyBNeedsAGradient {
            save(output)
        }
    }

    /// Whether `b` needs a gradient (has an edge) and `a` does not.
    private var onlyBNeedsAGradient: Bool {
        guard case .none = input(0) else { return false }
        if case .none = input(1) { return false }
        return true
    }

    /// Whether both inputs need a gradient (have an edge).
    private var bothInputsNeedGradients: Bool {
        if case .none = input(0) { return false }
        if case .none = input(1) { return false }
        return true
    }

    override func backward(_ outputGradient: Tensor) {
        let savesInputs = shapes == nil
        let a = savesInputs ? savedValue(0) : nil, b = savesInputs ? savedValue(1) : nil
        let aShape = shapes?.a ?? savedShape(0), bShape = shapes?.b ?? savedShape(1)
        if aShape == outputShape, bShape == outputShape,
           backwardBothInOnePass(outputGradient, a, b) {
            return
        }
        if backwardDivisorFromQuotient(outputGradient, b) { return }
        let passesToA = (op == .add || op == .subtract) && aShape == outputShape
        let bIsBias = op == .add && passesToA && isRowVector(bShape, of: outputShape)
        Broadcasting.withLayout(of: aShape, bShape, in: outputShape,
                                operation: op.symbol) { rank, shape, aStrides, bStrides in
            // b first: `a` may then take the output gradient itself, which b's kernel reads.
            for operand in stride(from: 1, through: passesToA ? 1 : 0, by: -1) {
                guard let target = gradientTarget(forInput: operand) else { continue }
                if outputGradient.count == 0 {
                    if !target.accumulate { ck_fill(Int64(target.count), 0, target.buffer) }
                    continue
                }
                if operand == 1 && bIsBias { // the sums of dy's columns, in row order
                    let columns = outputShape[outputShape.count - 1]
                    ck_bias_grad(Int64(outputGradient.count / columns), Int64(columns),
                                 outputGradient.value, Int64(columns), target.accumulateFlag,
                                 target.buffer)
                    continue
                }
                ck_binary_gradient(op.kernel, Int32(operand), rank, shape, outputGradient.value,
                                   a, aStrides, b, bStrides, target.accumulateFlag,
                                   target.buffer)
            }
        }
        if passesToA { passGradient(outputGradient, owned: ownsOutputGradient, toInput: 0) }
    }

    /// For inputs of the output's shape that both need a gradient, unless a's gradient is the
    /// output's gradient handed over (`passGradient`): both gradients in one pass over dy and
    /// the saved `a` and `b`, and for `/` the saved output (`ck_binary_gradients`: the same
    /// bits as a pass for each, b's first, for every number, NaN where that is NaN), each over
    /// its input's values when nothing else holds them (`onePassTarget`); `x * x` adds both
    /// terms to x's gradient in it.
    /// Returns false, having done nothing, otherwise.
    private func backwardBothInOnePass(_ outputGradient: Tensor, _ a: UnsafeMutablePointer<Float>?,
                                       _ b: UnsafeMutablePointer<Float>?) -> Bool {
        guard outputGradient.count > 0, bothInputsNeedGradients else { return false }
        if (op == .add || op == .subtract) && handsOver(owned: ownsOutputGradient, toInput: 0) {
            return false
        }
        // The quotient a / b, saved for `/` unless something wrote to it since.
        let quotient = op == .divide ? savedValueIfUnchanged(2) : nil
        // b's target first, as the passes one by one take them: for x * x, the second is the
        // same buffer, to be added to.
        let db = onePassTarget(forInput: 1)!, da = onePassTarget(forInput: 0)!
        ck_binary_gradients(op.kernel, Int64(outputGradient.count), outputGradient.value, a, b,
                            quotient, da.accumulateFlag, da.buffer, db.accumulateFlag,
                            db.buffer)
        return true
    }

    /// Where `ck_binary_gradients` writes input `index`'s gradient: for `*` and `/`, which
    /// save their inputs, over the input's saved values when nothing else holds them (the
    /// kernel reads each element before it writes it, `gradientTarget(forInput:overSaved:)`).
    private func onePassTarget(forInput index: Int) -> GradientTarget? {
        shapes == nil ? gradientTarget(forInput: index, overSaved: index)
            : gradientTarget(forInput: index)
    }

    /// For `/` whose `b` alone needs a gradient and has the output's shape, the quotient
    /// saved and unchanged: b's gradient −((dy / b) · q) from the quotient q = a / b in one
    /// pass (`ck_binary_gradients` without da: the bits of `ck_binary_gradient`'s term, one
    /// division fewer), over b's values when nothing else holds them (`onePassTarget`).
    /// Returns false, having done nothing, otherwise.
    private func backwardDivisorFromQuotient(_ outputGradient: Tensor,
                                             _ b: UnsafeMutablePointer<Float>?) -> Bool {
        guard outputGradient.count > 0, let quotient = savedValueIfUnchanged(2),
              case .none = input(0), let db = onePassTarget(forInput: 1) else { return false }
        ck_binary_gradients(CK_BINARY_DIVIDE, Int64(outputGradient.count), outputGradient.value,
                            nil, b, quotient, 0, nil, db.accumulateFlag, db.buffer)
        return true
    }
}

/// Whether `vector` is `[n]` (or `[1, ..., 1, n]`) against `shape` `[..., n]`, n > 0: a bias
/// added to every row.
private func isRowVector(_ vector: [Int], of shape: [Int]) -> Bool {
    guard let n = vector.last, n > 0, shape.last == n, vector.count <= shape.count else {
        return false
    }
    return vector.dropLast().allSatisfy { $0 == 1 }
}
