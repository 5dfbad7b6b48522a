import BenchmarkMachine
import BenchmarkSupport
import CKernels
import COpenBLAS
import Foundation

/// One product C = op(A) · op(B), row-major, alpha 1, beta 0, dense operands. Convention
/// m×k×n: op(A) is m×k, op(B) is k×n, C is m×n. A transposed operand is stored transposed
/// (op(A) = Aᵀ with A stored k×m) and read in place, by ck and OpenBLAS alike.
struct GemmCase {
    let group: String  // square, spiral, mlp256, mlp32, conv, bias+relu, dW+sgd, dW+adam, dW+rmsprop
    let name: String   // what the product is in its network
    let transA: Bool
    let transB: Bool
    let m: Int
    let k: Int
    let n: Int
    let threads: Int
    /// A product with what follows it in training, fused against unfused (FusedGemmCases.swift),
    /// rather than ck_sgemm against OpenBLAS; nil for the product alone.
    var fused: FusedStep?

    /// What --filter matches.
    var id: String { "gemm \(group) \(name)" }
    var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    var ops: String { (transA ? "T" : "N") + (transB ? "T" : "N") }
    var lda: Int { transA ? m : k }
    var ldb: Int { transB ? k : n }
    /// The naive triple loop runs where it takes at most ~0.1 s per call.
    var runsNaive: Bool { m * k * n <= 1 << 25 }
    /// The route ck_sgemm (or ck_sgemm_bias_relu for the bias and ReLU; ck_sgemm_sgd takes
    /// ck_sgemm's) takes on the current table (C dense, in a 64-byte-aligned `Buffer`).
    var route: String {
        String(cString: ck_gemm_route_name(ck_gemm_route_for(
            ck_gemm_get_arch(), Int32(threads), transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n),
            Int64(k), Int64(n), 1, 0,
            fused == .biasReLU ? CK_GEMM_EPILOGUE_BIAS_RELU : CK_GEMM_EPILOGUE_NONE)))
    }
}

extension GemmCase {
    /// The product by ck_sgemm, from a and b into c.
    func ckCall(_ a: Buffer<Float>, _ b: Buffer<Float>, into c: Buffer<Float>) -> () -> Void {
        let (m, n, k, lda, ldb) = (Int64(m), Int64(n), Int64(k), Int64(lda), Int64(ldb))
        let (transA, transB): (Int32, Int32) = (transA ? 1 : 0, transB ? 1 : 0)
        return { ck_sgemm(transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb, 0, c.pointer, n) }
    }

    /// The product by OpenBLAS's cblas_sgemm.
    func openBLASCall(_ a: Buffer<Float>, _ b: Buffer<Float>, into c: Buffer<Float>) -> () -> Void {
        let (m, n, k, lda, ldb) = (Int32(m), Int32(n), Int32(k), Int32(lda), Int32(ldb))
        let (transA, transB) = (transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans)
        return {
            cblas_sgemm(CblasRowMajor, transA, transB, m, n, k, 1, a.pointer, lda, b.pointer, ldb,
                        0, c.pointer, n)
        }
    }

    /// The product by MKL's cblas_sgemm (after bench_mkl_load returned 1).
    func mklCall(_ a: Buffer<Float>, _ b: Buffer<Float>, into c: Buffer<Float>) -> () -> Void {
        let (m, n, k, lda, ldb) = (Int64(m), Int64(n), Int64(k), Int64(lda), Int64(ldb))
        let (transA, transB): (Int32, Int32) = (transA ? 1 : 0, transB ? 1 : 0)
        return { bench_mkl_sgemm(transA, transB, m, n, k, a.pointer, lda, b.pointer, ldb, c.pointer, n) }
    }

    /// The product's operands: A and B random (the same for the same case), and `outputs`
    /// buffers for C filled with NaN.
    func operands(outputs: Int) -> (a: Buffer<Float>, b: Buffer<Float>, c: [Buffer<Float>]) {
        (randomFloats(m * k, seed: 1), randomFloats(k * n, seed: 2),
         (0..<outputs).map { _ in Buffer<Float>(count: m * n) { _ in .nan } })
    }
}

/// Square products on 1 and on all threads; the spiral network's and an MLP's products
/// (forward and backward, batch 256 and 32) and a convolutional network's on all threads;
/// three forward products with their bias and ReLU, and four dW products with the SGD update,
/// fused and not.
func gemmCases(threadCounts: [Int], quick: Bool) -> [GemmCase] {
    let all = threadCounts.max()!
    /// ops: "NN", "TN" or "NT", for op(A) then op(B).
    func product(_ ops: String, _ group: String, _ name: String, _ m: Int, _ k: Int, _ n: Int,
                 threads: Int = all) -> GemmCase {
        GemmCase(group: group, name: name, transA: ops.first == "T", transB: ops.last == "T",
                 m: m, k: k, n: n, threads: threads)
    }

    let sizes = quick ? [64, 128, 256, 512, 1024] : [64, 128, 256, 512, 1024, 2048]
    let square = sizes.flatMap { size in
        threadCounts.map { product("NN", "square", "\(size)", size, size, size, threads: $0) }
    }
    // Linear(2, 100) → ReLU → Linear(100, 3), batch 20; prediction on all 300 points.
    let spiral = [
        product("NN", "spiral", "H = X·W1", 20, 2, 100),
        product("NN", "spiral", "Y = H·W2", 20, 100, 3),
        product("NN", "spiral", "H = X·W1, 300", 300, 2, 100),
        product("TN", "spiral", "dW1 = Xᵀ·dH", 2, 20, 100),
        product("TN", "spiral", "dW2 = Hᵀ·dY", 100, 20, 3),
        product("NT", "spiral", "dX2 = dY·W2ᵀ", 20, 3, 100),
    ]
    // 784 → 1024 → 1024 → 10; the backward products of the 1024 → 1024 layer.
    let mlp = [256, 32].flatMap { batch in
        [
            product("NN", "mlp\(batch)", "Y = X·W 784→1024", batch, 784, 1024),
            product("NN", "mlp\(batch)", "Y = X·W 1024→1024", batch, 1024, 1024),
            product("NN", "mlp\(batch)", "Y = X·W 1024→10", batch, 1024, 10),
            product("TN", "mlp\(batch)", "dW = Xᵀ·dY", 1024, batch, 1024),
            product("TN", "mlp\(batch)", "dW = Xᵀ·dY 1024→10", 1024, batch, 10),
            product("NT", "mlp\(batch)", "dX = dY·Wᵀ", batch, 1024, 1024),
        ]
    }
    // The residual digits network's 3 × 3 convolutions of 16 channels on 8 × 8 images at
    // batch 256 (C's or B's 16384 columns, rows 64 KB apart), and its first, of one channel;
    // then a 3 × 3 convolution of 32 to 64 channels on 14 × 14 planes at batch 64 (a 28 × 28
    // network's second), whose dW has few rows against the 12544 terms of each sum.
    let conv = [
        product("NN", "conv", "Z = W·cols 16→16", 16, 144, 16384),
        product("NT", "conv", "dW = dZ·colsᵀ 16→16", 16, 16384, 144),
        product("TN", "conv", "dcols = Wᵀ·dZ 16→16", 144, 16, 16384),
        product("NN", "conv", "Z = W·cols 1→16", 16, 9, 16384),
        product("NN", "conv", "Z = W·cols 32→64", 64, 288, 12544),
        product("NT", "conv", "dW = dZ·colsᵀ 32→64", 64, 12544, 288),
        product("TN", "conv", "dcols = Wᵀ·dZ 32→64", 288, 64, 12544),
    ]
    // Linear then ReLU: the spiral's hidden layer (a batch, and all 300 points) and the MLP's
    // first layer.
    let biasReLU = [
        product("NN", "bias+relu", "spiral H = relu(X·W1 + b)", 20, 2, 100),
        product("NN", "bias+relu", "spiral 300 H = relu(X·W1 + b)", 300, 2, 100),
        product("NN", "bias+relu", "mlp256 relu(X·W + b) 784→1024", 256, 784, 1024),
    ].map { $0.followed(by: .biasReLU) }
    // The MLP's two large dW products, then an optimizer's step on the weights: SGD with
    // momentum, Adam, RMSprop.
    let steps = [(FusedStep.sgdUpdate, "dW+sgd"), (.adamUpdate, "dW+adam"), (.rmspropUpdate, "dW+rmsprop")]
    let updates = steps.flatMap { step, group in
        [256, 32].flatMap { batch in
            [
                product("TN", group, "mlp\(batch) dW = Xᵀ·dY 784→1024", 784, batch, 1024),
                product("TN", group, "mlp\(batch) dW = Xᵀ·dY 1024→1024", 1024, batch, 1024),
            ].map { $0.followed(by: step) }
        }
    }
    return square + spiral + mlp + conv + biasReLU + updates
}

/// The largest |x - y| over both buffers, relative to the largest |y|.
func relativeDifference(_ x: Buffer<Float>, _ y: Buffer<Float>) -> Float {
    var difference: Float = 0, scale: Float = .leastNormalMagnitude
    for i in 0..<x.count {
        difference = max(difference, abs(x.pointer[i] - y.pointer[i]))
        scale = max(scale, abs(y.pointer[i]))
    }
    return difference / scale
}

/// Times the products against OpenBLAS, then the fused cases against unfused, a table for
/// each kind.
func runGemmBenchmarks(_ cases: [GemmCase], plan: TimingPlan) {
    let products = cases.filter { $0.fused == nil }
    if !products.isEmpty { runProductBenchmarks(products, plan: plan) }
    for step in FusedStep.allCases {
        let fused = cases.filter { $0.fused == step }
        if !fused.isEmpty { runFusedBenchmarks(fused, step: step, plan: plan) }
    }
}

/// Times ck_sgemm, OpenBLAS's cblas_sgemm, MKL's (when bench_mkl_load found it) and (for
/// small products) the naive loop on each case, alternately, and prints one row per case,
/// then the MLP's products against the best peer (`printMLPSummary`).
private func runProductBenchmarks(_ cases: [GemmCase], plan: TimingPlan) {
    print("""

        GEMM  C = op(A)·op(B), fp32 row-major, alpha 1, beta 0. m×k×n: op(A) m×k, op(B) k×n, \
        C m×n; op: N or T for A then B (T: stored transposed, read in place).
        GFLOP/s = 2·m·k·n / median time per call. ck/OB = OpenBLAS time / ck time, ck/MKL = MKL \
        time / ck time (> 1: ck faster). spread: fastest and slowest round against the median time.
        others: cores other processes kept busy meanwhile (0 to 2; above ~0.2 the row is suspect).
        naive: textbook triple loop, one thread, products up to 2^25 multiply-adds.
        route: the route ck_sgemm takes (CKernels/gemm_plan.h).

        """)
    let table = Table([
        ("case", 26), ("op", 2), ("m×k×n", 14), ("thr", 3), ("ck µs", 7), ("ck GF/s", 7),
        ("OB GF/s", 7), ("MKL GF/s", 7), ("naive GF/s", 5), ("ck/OB", 6), ("ck/MKL", 6),
        ("ck spread", 8), ("OB spread", 8), ("MKL spread", 8), ("others", 4), ("route", 27),
    ])
    let mkl = bench_mkl_load() != 0
    table.printHeader()
    var mlpRatios: [(name: String, ratio: Double)] = []
    for gemm in cases {
        ck_set_num_threads(Int32(gemm.threads))
        openblas_set_num_threads(Int32(gemm.threads))
        if mkl { bench_mkl_set_num_threads(Int32(gemm.threads)) }
        let (a, b, outputs) = gemm.operands(outputs: 4)
        let (m, n, k, lda, ldb) = (gemm.m, gemm.n, gemm.k, gemm.lda, gemm.ldb)
        let (transA, transB) = (gemm.transA, gemm.transB)
        var contenders = [
            Contender(name: "ck", call: gemm.ckCall(a, b, into: outputs[0])),
            Contender(name: "OpenBLAS", call: gemm.openBLASCall(a, b, into: outputs[1])),
        ]
        if mkl { contenders.append(Contender(name: "MKL", call: gemm.mklCall(a, b, into: outputs[3]))) }
        if gemm.runsNaive {
            contenders.append(Contender(name: "naive") {
                bench_naive_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k),
                                  a.pointer, Int64(lda), b.pointer, Int64(ldb),
                                  outputs[2].pointer, Int64(n))
            })
        }
        let before = CPUTimes()
        let timings = measureAlternately(contenders, plan: plan)
        let others = CPUTimes().otherProcesses(since: before)
        let (ck, openBLAS) = (timings[0], timings[1])
        let mklTiming = mkl ? timings[2] : nil
        let naive = gemm.runsNaive ? timings.last : nil
        table.printRow([
            gemm.group + " " + gemm.name, gemm.ops,
            "\(m)×\(k)×\(n)", "\(gemm.threads)", formattedShort(ck.median * 1e6),
            formattedShort(gemm.flops / ck.median * 1e-9),
            formattedShort(gemm.flops / openBLAS.median * 1e-9),
            formattedShort(mklTiming.map { gemm.flops / $0.median * 1e-9 }),
            formattedShort(naive.map { gemm.flops / $0.median * 1e-9 }),
            formattedRatio(openBLAS.median / ck.median),
            formattedRatio(mklTiming.map { $0.median / ck.median }), formattedSpread(ck),
            formattedSpread(openBLAS), mklTiming.map(formattedSpread) ?? "-", formatted(others),
            gemm.route,
        ])
        if gemm.group.hasPrefix("mlp") {
            mlpRatios.append((gemm.group + " " + gemm.name,
                              min(openBLAS.median, mklTiming?.median ?? .infinity) / ck.median))
        }
        for (peer, output) in [("OpenBLAS", outputs[1])] + (mkl ? [("MKL", outputs[3])] : []) {
            let difference = relativeDifference(outputs[0], output)
            if !(difference < 1e-4) {
                print("  ! ck_sgemm and \(peer)'s cblas_sgemm differ: max |difference| / max |C| = \(difference)")
            }
        }
    }
    printMLPSummary(mlpRatios, peers: mkl ? "the faster of OpenBLAS and MKL" : "OpenBLAS (no MKL)")
}

/// Prints the geometric mean and the lowest of `ratios` (the MLP's products: the best peer's
/// median time over ck's, shape by shape): the MLP's products against the peers in one figure.
private func printMLPSummary(_ ratios: [(name: String, ratio: Double)], peers: String) {
    guard let lowest = ratios.min(by: { $0.ratio < $1.ratio }) else { return }
    let mean = exp(ratios.map { log($0.ratio) }.reduce(0, +) / Double(ratios.count))
    print("""

        MLP products (\(ratios.count)), ck against \(peers) shape by shape: geometric mean \
        \(formattedRatio(mean)), lowest \(formattedRatio(lowest.ratio)) (\(lowest.name))
        """)
}
