import CKernels

/// The matrix product op(a) · op(b), op being the transpose for `transposingA`/`transposingB`
/// (read in place by the GEMM: no transposed copy is made, forward or backward).
///
/// Shapes (without transposes): `[m, k] · [k, n] → [m, n]`; batched
/// `[batch, m, k] · [batch, k, n] → [batch, m, n]`; and `[batch, m, k] · [k, n]`, the matrix
/// shared by the batch (its gradient sums over the batch). A transposed operand is stored with
/// its last two axes swapped (`[n, k]` for `transposingB`).
///
/// ```swift
/// let x = Tensor(shape: [20, 2]), w = Tensor(shape: [2, 100])
/// w.requiresGradient = true
/// let h = matmul(x, w)                            // [20, 100]
/// let g = matmul(h, w, transposingB: true)        // [20, 2]: h · wᵀ
/// ```
public func matmul(_ a: Tensor, _ b: Tensor, transposingA: Bool = false,
                   transposingB: Bool = false) -> Tensor {
    let product = MatrixProduct(a.shape, b.shape, transposingA: transposingA,
                                transposingB: transposingB)
    let c = Tensor(uninitializedShape: product.outputShape)
    product.multiply(a.value, b.value, into: c.value, beta: 0)
    if recordsGradient(a, b) { c.attach(MatrixProductNode(a, b, product: product)) }
    return c
}

/// The sizes, strides and transposes of one `matmul`, checked against the operands' shapes.
struct MatrixProduct {
    let batch: Int, m: Int, n: Int, k: Int
    let transposingA: Bool, transposingB: Bool
    /// Elements between consecutive matrices of a batch (0: one matrix shared by the batch).
    let strideA: Int, strideB: Int
    let outputShape: [Int]

    init(_ a: [Int], _ b: [Int], transposingA: Bool, transposingB: Bool) {
        // Built only when a check fails: formatting it costs more than a small product.
        func message() -> String {
            "matmul: shapes \(a) and \(b) do not fit\(transposingA ? " (a transposed)" : "")\(transposingB ? " (b transposed)" : ""); expected [m, k]·[k, n], [batch, m, k]·[batch, k, n] or [batch, m, k]·[k, n]"
        }
        require((a.count == 2 && b.count == 2) || (a.count == 3 && (b.count == 2 || b.count == 3)),
                message())
        let batch = a.count == 3 ? a[0] : 1
        let (aRows, aColumns) = (a[a.count - 2], a[a.count - 1])
        let (bRows, bColumns) = (b[b.count - 2], b[b.count - 1])
        let (m, k) = transposingA ? (aColumns, aRows) : (aRows, aColumns)
        let (bk, n) = transposingB ? (bColumns, bRows) : (bRows, bColumns)
        require(k == bk && (b.count == 2 || b[0] == batch), message())
        (self.batch, self.m, self.n, self.k) = (batch, m, n, k)
        (self.transposingA, self.transposingB) = (transposingA, transposingB)
        strideA = m * k
        strideB = b.count == 3 ? k * n : 0
        outputShape = a.count == 3 ? [batch, m, n] : [m, n]
    }

    /// The leading dimensions of A and B as stored.
    var lda: Int { transposingA ? m : k }
    var ldb: Int { transposingB ? k : n }

    /// c (+)= op(a) · op(b) over the batch: beta 0 overwrites, 1 accumulates.
    func multiply(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                  into c: UnsafeMutablePointer<Float>, beta: Float) {
        ck_sgemm_batched(Int64(batch), transposingA ? 1 : 0, transposingB ? 1 : 0, Int64(m),
                         Int64(n), Int64(k), 1, a, Int64(lda), Int64(strideA), b, Int64(ldb),
                         Int64(strideB), beta, c, Int64(n), Int64(m * n))
    }
}

/// The backward pass of `matmul`, each gradient one batched GEMM reading its operands in
/// place (transposes by the GEMM's flags), C = op(A)·op(B) with gradient dC:
/// A: dC·op(B)ᵀ (its transpose op(B)·dCᵀ when A is stored transposed);
/// B: op(A)ᵀ·dC (its transpose dCᵀ·op(A) when B is stored transposed), summed over the batch
/// when B is shared.
///
/// A bias added to a 2-D product and a ReLU applied after it join this node instead of
/// recording their own (`fusingBias(into:_:)`, `fusingReLU(into:)`), as the layers' fused
/// passes do: the backward pass then masks dC by the ReLU's output, sums it into the bias's
/// gradient (`ck_bias_grad`) and runs the GEMMs above, the same kernels in the same order as
/// the separate nodes, so the same bits. When such a node's only consumer is another product
/// reading it as A (`relu(x·W1 + b1)·W2`), that consumer computes dA masked by the ReLU in
/// one kernel (`ck_sgemm_relu_backward`, the layers' fused backward pass, bitwise the GEMM
/// then the mask), and this node skips its mask.
final class MatrixProductNode: GradientNode {
    private let product: MatrixProduct
    /// Whether a bias was added to the product: input 2.
    @exclusivity(unchecked) private var hasBias = false
    /// Whether a ReLU was applied after the product (and bias): its output is saved tensor 2.
    @exclusivity(unchecked) private var hasReLU = false
    /// Whether the consumer already masked the output gradient by the ReLU.
    @exclusivity(unchecked) private var receivesMaskedGradient = false

    init(_ a: Tensor, _ b: Tensor, product: MatrixProduct) {
        self.product = product
        super.init("matmul", input: a, b, saving: a, b, outputShape: product.outputShape)
    }

    /// The node of `tensor` when it is a 2-D product's to which a bias or a ReLU can be fused
    /// in place: recording is on, and nothing but `tensor` holds the tensor, its storage (no
    /// view, no node saved it) or its node (no operation used it yet), so no one can see the
    /// values change or the node take on the operation.
    private static func fusable(_ tensor: inout Tensor) -> MatrixProductNode? {
        // The uniqueness checks come before any reference to the node is taken.
        guard isProduct(tensor.gradientNode), GradientRecording.isEnabled,
              isKnownUniquelyReferenced(&tensor), isKnownUniquelyReferenced(&tensor.gradientNode),
              isKnownUniquelyReferenced(&tensor.storage) else { return nil }
        let node = unsafeDowncast(tensor.gradientNode!, to: MatrixProductNode.self)
        guard node.product.batch == 1 && node.outputShape.count == 2 && !node.hasReLU else {
            return nil
        }
        return node
    }

    /// Whether `node` is a `MatrixProductNode`.
    private static func isProduct(_ node: GradientNode?) -> Bool {
        guard let node else { return false }
        return type(of: node) == MatrixProductNode.self
    }

    /// `a + bias` computed in `a`'s buffer (`ck_bias_add`, the layers' kernel, the same sums
    /// as the broadcasting add) and recorded by `a`'s node, when `a` is a fusable product
    /// `[m, n]` (`fusable(_:)`) without a bias yet and `bias` is `[n]` or `[1, n]`. Returns
    /// whether it did; `a` is then the sum.
    static func fusingBias(into a: inout Tensor, _ bias: Tensor) -> Bool {
        guard let node = fusable(&a), !node.hasBias else { return false }
        let (m, n) = (node.product.m, node.product.n)
        guard a.count > 0, bias.shape.count <= 2, bias.shape.last == n, bias.count == n else {
            return false
        }
        ck_bias_add(Int64(m), Int64(n), a.value, Int64(n), bias.value)
        a.countInPlaceWrite()
        node.hasBias = true
        node.appendInput(bias)
        node.operation = "matmul + bias"
        return true
    }

    /// relu(x) computed in `x`'s buffer (`ck_relu_forward`) and recorded by `x`'s node, when
    /// `x` is a fusable product (`fusable(_:)`), with or without a bias. Returns whether it
    /// did; `x` is then the ReLU's output, saved by the node.
    static func fusingReLU(into x: inout Tensor) -> Bool {
        guard x.count > 0, let node = fusable(&x) else { return false }
        ck_relu_forward(Int64(x.count), x.value, x.value)
        x.countInPlaceWrite()
        node.hasReLU = true
        node.save(x)
        node.operation = node.hasBias ? "relu(matmul + bias)" : "relu(matmul)"
        return true
    }

    /// The node of A, during this node's backward pass before A's gradient is written, when
    /// A is a 2-D product's output with a ReLU (`fusingReLU(into:)`) whose only consumer is
    /// this node, as A, and this product is 2-D with A not transposed: then this node may
    /// write A's gradient masked by the ReLU (its output being A itself).
    private func reLUProducerOfA() -> MatrixProductNode? {
        guard product.batch == 1, !product.transposingA, case .node(let node) = input(0),
              type(of: node) == MatrixProductNode.self else { return nil }
        let producer = unsafeDowncast(node, to: MatrixProductNode.self)
        guard producer.hasReLU, producer.pendingConsumers == 1,
              producer.outputGradient == nil else { return nil }
        return producer
    }

    override func backward(_ outputGradient: Tensor) {
        let p = product
        var dC = outputGradient.value
        let (batch, m, n, k) = (Int64(p.batch), Int64(p.m), Int64(p.n), Int64(p.k))
        // The ReLU's mask, in place when the gradient belongs to the graph.
        var masked: TensorStorage?
        if hasReLU && !receivesMaskedGradient {
            let y = savedValue(2)
            if !ownsOutputGradient {
                masked = TensorStorage.make(count: outputGradient.count, zeroed: false,
                                            for: "\(operation): the masked output gradient")
                dC = masked!.base
            }
            ck_relu_backward(m * n, y, outputGradient.value, dC)
        }
        if hasBias, let db = gradientTarget(forInput: 2) {
            ck_bias_grad(m, n, dC, n, db.accumulateFlag, db.buffer)
        }
        let (tA, tB): (Int32, Int32) = (p.transposingA ? 1 : 0, p.transposingB ? 1 : 0)
        let (lda, ldb) = (Int64(p.lda), Int64(p.ldb))
        let (strideA, strideB, strideC) = (Int64(p.strideA), Int64(p.strideB), m * n)
        let maskingProducer = reLUProducerOfA() // asked before A's gradient is written
        if let dA = gradientTarget(forInput: 0) {
            let b = savedValue(1), beta = dA.beta
            if p.transposingA { // dA (k × m) = op(B) (k × n) · dCᵀ (n × m)
                ck_sgemm_batched(batch, tB, 1, k, m, n, 1, b, ldb, strideB, dC, n, strideC,
                                 beta, dA.buffer, m, strideA)
            } else if let producer = maskingProducer { // dA = ReLU′(A) ⊙ (dC · op(B)ᵀ)
                ck_sgemm_relu_backward(0, 1 - tB, m, k, n, 1, dC, n, b, ldb, beta, dA.buffer,
                                       k, savedValue(0), k)
                producer.receivesMaskedGradient = true
            } else {            // dA (m × k) = dC (m × n) · op(B)ᵀ (n × k)
                ck_sgemm_batched(batch, 0, 1 - tB, m, k, n, 1, dC, n, strideC, b, ldb,
                                 strideB, beta, dA.buffer, k, strideA)
            }
        }
        if let dB = gradientTarget(forInput: 1) {
            let a = savedValue(0), beta = dB.beta
            if p.transposingB { // dB (n × k) = dCᵀ (n × m) · op(A) (m × k)
                ck_sgemm_batched(batch, 1, tA, n, k, m, 1, dC, n, strideC, a, lda, strideA,
                                 beta, dB.buffer, k, strideB)
            } else {            // dB (k × n) = op(A)ᵀ (k × m) · dC (m × n)
                ck_sgemm_batched(batch, 1 - tA, 0, k, n, m, 1, a, lda, strideA, dC, n, strideC,
                                 beta, dB.buffer, n, strideB)
            }
        }
        withExtendedLifetime(masked) {}
    }
}
