import BenchmarkSupport
import CKernels
import COpenBLAS

/// One product C = op(A) · op(B), row-major, alpha 1, beta 0, dense operands. Convention
/// m×k×n: op(A) is m×k, op(B) is k×n, C is m×n. A transposed operand is stored transposed
/// (op(A) = Aᵀ with A stored k×m) and read in place, by ck and OpenBLAS alike.
struct GemmCase {
    let group: String  // square, spiral, mlp256, mlp32
    let name: String   // what the product is in its network
    let transA: Bool
    let transB: Bool
    let m: Int
    let k: Int
    let n: Int
    let threads: Int

    /// What --filter matches.
    var id: String { "gemm \(group) \(name)" }
    var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    var ops: String { (transA ? "T" : "N") + (transB ? "T" : "N") }
    var lda: Int { transA ? m : k }
    var ldb: Int { transB ? k : n }
    /// The naive triple loop runs where it takes at most ~0.1 s per call.
    var runsNaive: Bool { m * k * n <= 1 << 25 }
}

/// Square products on 1 and on all threads; the spiral network's and an MLP's products
/// (forward and backward, batch 256 and 32) on all threads.
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
            product("NT", "mlp\(batch)", "dX = dY·Wᵀ", batch, 1024, 1024),
        ]
    }
    return square + spiral + mlp
}

/// The largest |x - y| over both buffers, relative to the largest |y|.
private func relativeDifference(_ x: Buffer<Float>, _ y: Buffer<Float>) -> Float {
    var difference: Float = 0, scale: Float = .leastNormalMagnitude
    for i in 0..<x.count {
        difference = max(difference, abs(x.pointer[i] - y.pointer[i]))
        scale = max(scale, abs(y.pointer[i]))
    }
    return difference / scale
}

/// Times ck_sgemm, OpenBLAS's cblas_sgemm and (for small products) the naive loop on each
/// case, alternately, and prints one row per case.
func runGemmBenchmarks(_ cases: [GemmCase], plan: TimingPlan) {
    print("""

        GEMM  C = op(A)·op(B), fp32 row-major, alpha 1, beta 0. m×k×n: op(A) m×k, op(B) k×n, \
        C m×n; op: N or T for A then B (T: stored transposed, read in place).
        GFLOP/s = 2·m·k·n / median time per call. ck/OB = OpenBLAS time / ck time (> 1: ck \
        faster). spread: fastest and slowest round against the median time.
        others: cores other processes kept busy meanwhile (0 to 2; above ~0.2 the row is suspect).
        naive: textbook triple loop, one thread, products up to 2^25 multiply-adds.

        """)
    let table = Table([
        ("case", 26), ("op", 2), ("m×k×n", 14), ("thr", 3), ("ck µs", 7), ("ck GF/s", 7),
        ("OB GF/s", 7), ("naive GF/s", 5), ("ck/OB", 6), ("ck spread", 8), ("OB spread", 8),
        ("others", 4),
    ])
    table.printHeader()
    for gemm in cases {
        ck_set_num_threads(Int32(gemm.threads))
        openblas_set_num_threads(Int32(gemm.threads))
        let a = randomFloats(gemm.m * gemm.k, seed: 1), b = randomFloats(gemm.k * gemm.n, seed: 2)
        let outputs = (0..<3).map { _ in Buffer<Float>(count: gemm.m * gemm.n) { _ in .nan } }
        let (m, n, k, lda, ldb) = (gemm.m, gemm.n, gemm.k, gemm.lda, gemm.ldb)
        let (transA, transB) = (gemm.transA, gemm.transB)
        var contenders = [
            Contender(name: "ck") {
                ck_sgemm(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), 1,
                         a.pointer, Int64(lda), b.pointer, Int64(ldb), 0, outputs[0].pointer,
                         Int64(n))
            },
            Contender(name: "OpenBLAS") {
                cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                            transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                            a.pointer, Int32(lda), b.pointer, Int32(ldb), 0, outputs[1].pointer,
                            Int32(n))
            },
        ]
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
        let naive = timings.count > 2 ? timings[2] : nil
        table.printRow([
            gemm.group + " " + gemm.name, gemm.ops,
            "\(m)×\(k)×\(n)", "\(gemm.threads)", formattedShort(ck.median * 1e6),
            formattedShort(gemm.flops / ck.median * 1e-9),
            formattedShort(gemm.flops / openBLAS.median * 1e-9),
            formattedShort(naive.map { gemm.flops / $0.median * 1e-9 }),
            formattedRatio(openBLAS.median / ck.median), formattedSpread(ck),
            formattedSpread(openBLAS), formatted(others),
        ])
        let difference = relativeDifference(outputs[0], outputs[1])
        if !(difference < 1e-4) {
            print("  ! ck_sgemm and cblas_sgemm differ: max |difference| / max |C| = \(difference)")
        }
    }
}
