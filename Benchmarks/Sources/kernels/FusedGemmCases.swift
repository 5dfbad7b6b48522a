import BenchmarkMachine
import CKernels
import Glibc

/// What a fused case runs in the product's call, and what the unfused form runs after it.
enum FusedStep: CaseIterable {
    /// A layer's forward pass: ck_sgemm_bias_relu against ck_sgemm, ck_bias_add and
    /// ck_relu_forward.
    case biasReLU
    /// A weight's gradient and its SGD step with momentum: ck_sgemm_sgd against ck_sgemm
    /// into the gradient, then ck_sgd.
    case sgdUpdate
    /// A weight's gradient and its Adam step: ck_sgemm_adam against ck_sgemm into the
    /// gradient, then ck_adam.
    case adamUpdate
    /// A weight's gradient and its RMSprop step (plain): ck_sgemm_rmsprop against ck_sgemm
    /// into the gradient, then ck_rmsprop.
    case rmspropUpdate

    /// The table's introduction.
    var header: String {
        switch self {
        case .biasReLU:
            """
            GEMM + bias + ReLU  C = relu(op(A)·op(B) + bias), fp32 row-major, a layer's forward pass.
            fused: ck_sgemm_bias_relu. unfused: ck_sgemm, then ck_bias_add, then ck_relu_forward.
            """
        case .sgdUpdate:
            """
            GEMM + SGD  G = op(A)·op(B), then SGD with momentum 0.9 on the m×n weights: a training \
            step's dW and update.
            fused: ck_sgemm_sgd (G not stored on the packed routes with B~ shared; elsewhere G is, \
            then ck_sgd). unfused: ck_sgemm into G, then ck_sgd.
            """
        case .adamUpdate:
            """
            GEMM + Adam  G = op(A)·op(B), then Adam (betas 0.9, 0.999) on the m×n weights: a \
            training step's dW and update.
            fused: ck_sgemm_adam (G not stored on the packed routes with B~ shared; elsewhere G \
            is, then ck_adam). unfused: ck_sgemm into G, then ck_adam.
            """
        case .rmspropUpdate:
            """
            GEMM + RMSprop  G = op(A)·op(B), then RMSprop (alpha 0.99, plain) on the m×n weights: \
            a training step's dW and update.
            fused: ck_sgemm_rmsprop (G not stored on the packed routes with B~ shared; elsewhere \
            G is, then ck_rmsprop). unfused: ck_sgemm into G, then ck_rmsprop.
            """
        }
    }

    /// The name of the fused call, for the check of its bits.
    var fusedName: String {
        switch self {
        case .biasReLU: "ck_sgemm_bias_relu"
        case .sgdUpdate: "ck_sgemm_sgd"
        case .adamUpdate: "ck_sgemm_adam"
        case .rmspropUpdate: "ck_sgemm_rmsprop"
        }
    }
    /// What the route column shows.
    var routeNote: String {
        self == .biasReLU
            ? "the route ck_sgemm_bias_relu takes"
            : "the route ck_sgemm takes; \(fusedName) goes along rows on \"packed\""
    }
    var unfusedNames: String {
        switch self {
        case .biasReLU: "ck_sgemm + ck_bias_add + ck_relu_forward"
        case .sgdUpdate: "ck_sgemm + ck_sgd"
        case .adamUpdate: "ck_sgemm + ck_adam"
        case .rmspropUpdate: "ck_sgemm + ck_rmsprop"
        }
    }
}

extension GemmCase {
    /// The same product, followed by `step`, in group `step`'s.
    func followed(by step: FusedStep) -> GemmCase {
        var fused = self
        fused.fused = step
        return fused
    }
}

/// The buffers of one fused or unfused form: C (or G), and for an optimizer's step the
/// weights and its buffers (random, the same for both forms): SGD's momentum buffer, Adam's
/// two moments, RMSprop's average of g² (the not negative one, secondMoment).
private struct FusedBuffers {
    let c: Buffer<Float>
    let param: Buffer<Float>
    let velocity: Buffer<Float>
    let secondMoment: Buffer<Float>

    init(_ gemm: GemmCase) {
        let count = gemm.fused == .biasReLU ? 0 : gemm.m * gemm.n
        c = Buffer(count: gemm.m * gemm.n) { _ in .nan }
        param = randomFloats(count, seed: 4)
        velocity = randomFloats(count, seed: 5)
        let squares = randomFloats([.adamUpdate, .rmspropUpdate].contains(gemm.fused) ? count : 0, seed: 6)
        for i in 0..<squares.count { squares.pointer[i] = abs(squares.pointer[i]) }
        secondMoment = squares
    }

    /// What the bits of the two forms are compared on.
    var result: Buffer<Float> { param.count > 0 ? param : c }
}

/// The fused and the unfused form of `gemm` (`gemm.fused`), from a and b.
private func fusedForms(_ gemm: GemmCase, _ a: Buffer<Float>, _ b: Buffer<Float>,
                        fused: FusedBuffers, unfused: FusedBuffers) -> (() -> Void, () -> Void) {
    let (m, n, k, lda, ldb) = (Int64(gemm.m), Int64(gemm.n), Int64(gemm.k), Int64(gemm.lda), Int64(gemm.ldb))
    let (transA, transB): (Int32, Int32) = (gemm.transA ? 1 : 0, gemm.transB ? 1 : 0)
    let product = { (c: Buffer<Float>) in
        ck_sgemm(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, 0, c.pointer, n)
    }
    switch gemm.fused! {
    case .biasReLU:
        let bias = randomFloats(gemm.n, seed: 3)
        return ({
            ck_sgemm_bias_relu(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, 0,
                               fused.c.pointer, n, bias.pointer, 1)
        }, {
            product(unfused.c)
            ck_bias_add(m, n, unfused.c.pointer, n, bias.pointer)
            ck_relu_forward(m * n, unfused.c.pointer, unfused.c.pointer)
        })
    case .sgdUpdate:
        // A small step, so that the weights stay finite over many calls.
        let (lr, momentum): (Float, Float) = (1e-4, 0.9)
        return ({
            // The step where ck_sgemm_sgd does not take it (products not on a packed route).
            if ck_sgemm_sgd(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, fused.c.pointer,
                            fused.param.pointer, fused.velocity.pointer, lr, momentum, 0, 0, 0, 0, 0) == 0 {
                ck_sgd(m * n, fused.param.pointer, fused.c.pointer, fused.velocity.pointer, lr, momentum,
                       0, 0, 0, 0, 0)
            }
        }, {
            product(unfused.c)
            ck_sgd(m * n, unfused.param.pointer, unfused.c.pointer, unfused.velocity.pointer, lr,
                   momentum, 0, 0, 0, 0, 0)
        })
    case .adamUpdate:
        // Step 10's bias corrections; a small step, as above.
        let (lr, beta1, beta2, eps): (Float, Float, Float, Float) = (1e-4, 0.9, 0.999, 1e-8)
        let (c1, c2) = (1 - pow(Double(beta1), 10), 1 - pow(Double(beta2), 10))
        let adam = { (buffers: FusedBuffers) in
            ck_adam(m * n, buffers.param.pointer, buffers.c.pointer, buffers.velocity.pointer,
                    buffers.secondMoment.pointer, nil, lr, beta1, beta2, eps, 0, 0, 0, c1, c2)
        }
        return ({
            if ck_sgemm_adam(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, fused.c.pointer,
                             fused.param.pointer, fused.velocity.pointer, fused.secondMoment.pointer, nil,
                             lr, beta1, beta2, eps, 0, 0, 0, c1, c2) == 0 {
                adam(fused)
            }
        }, {
            product(unfused.c)
            adam(unfused)
        })
    case .rmspropUpdate:
        let (lr, alpha, eps): (Float, Float, Float) = (1e-4, 0.99, 1e-8)
        let rmsprop = { (buffers: FusedBuffers) in
            ck_rmsprop(m * n, buffers.param.pointer, buffers.c.pointer, buffers.secondMoment.pointer, nil, nil,
                       lr, alpha, eps, 0, 0, 0)
        }
        return ({
            if ck_sgemm_rmsprop(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, fused.c.pointer,
                                fused.param.pointer, fused.secondMoment.pointer, nil, nil, lr, alpha, eps, 0,
                                0, 0) == 0 {
                rmsprop(fused)
            }
        }, {
            product(unfused.c)
            rmsprop(unfused)
        })
    }
}

/// Times, alternately, the fused form of each case, its unfused form and ck_sgemm alone (the
/// product's own cost); prints one row per case, and checks that one call of each form, from
/// the same buffers, gives the same bits.
func runFusedBenchmarks(_ cases: [GemmCase], step: FusedStep, plan: TimingPlan) {
    print("""

        \(step.header)
        sgemm: ck_sgemm alone. unf/fused = unfused time / fused time (> 1: fusing pays).
        route: \(step.routeNote) (CKernels/gemm_plan.h).

        """)
    let table = Table([
        ("case", 30), ("op", 2), ("m×k×n", 14), ("thr", 3), ("fused µs", 7), ("unfused µs", 7),
        ("sgemm µs", 7), ("unf/fused", 6), ("fused spread", 8), ("unf spread", 8), ("others", 4),
        ("route", 27),
    ])
    table.printHeader()
    for gemm in cases {
        ck_set_num_threads(Int32(gemm.threads))
        let (a, b, outputs) = gemm.operands(outputs: 1)
        let (fused, unfused) = fusedForms(gemm, a, b, fused: FusedBuffers(gemm), unfused: FusedBuffers(gemm))
        let contenders = [
            Contender(name: "fused", call: fused),
            Contender(name: "unfused", call: unfused),
            Contender(name: "sgemm", call: gemm.ckCall(a, b, into: outputs[0])),
        ]
        let before = CPUTimes()
        let timings = measureAlternately(contenders, plan: plan)
        let others = CPUTimes().otherProcesses(since: before)
        let (fusedTime, unfusedTime, sgemmTime) = (timings[0], timings[1], timings[2])
        table.printRow([
            gemm.name, gemm.ops, "\(gemm.m)×\(gemm.k)×\(gemm.n)", "\(gemm.threads)",
            formattedShort(fusedTime.median * 1e6), formattedShort(unfusedTime.median * 1e6),
            formattedShort(sgemmTime.median * 1e6), formattedRatio(unfusedTime.median / fusedTime.median),
            formattedSpread(fusedTime), formattedSpread(unfusedTime), formatted(others), gemm.route,
        ])
        let (once, onceUnfused) = (FusedBuffers(gemm), FusedBuffers(gemm))
        let (fusedOnce, unfusedOnce) = fusedForms(gemm, a, b, fused: once, unfused: onceUnfused)
        fusedOnce()
        unfusedOnce()
        let (x, y) = (once.result, onceUnfused.result)
        if !(0..<x.count).allSatisfy({ x.pointer[$0].bitPattern == y.pointer[$0].bitPattern }) {
            print("  ! \(step.fusedName) differs from \(step.unfusedNames)")
        }
    }
}
