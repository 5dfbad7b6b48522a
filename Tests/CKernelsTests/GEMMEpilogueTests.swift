// ck_sgemm_bias_relu against its contract: bitwise ck_sgemm, then ck_bias_add, then
// ck_relu_forward on the m x n block, on every path, routing, transpose and thread count;
// ck_sgemm_relu_backward likewise against ck_sgemm, then ck_relu_backward.
import CKernels
import DeepLearning
import XCTest

extension StoredGEMM {
    /// The same C with alpha and k replaced and NULL for A and B: for alpha == 0 or k == 0,
    /// where neither is read.
    func withoutOperands(alpha: Float, k: Int) -> StoredGEMM {
        StoredGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: nil, b: nil, c: c)
    }

    /// The unfused sequence the epilogue must reproduce bit for bit: ck_sgemm, then
    /// ck_bias_add, then ck_relu_forward row by row (C's padding is not part of the block).
    func runUnfused(epilogue: GEMMEpilogue) -> Matrix {
        var result = run()
        let (ld, n) = (result.ld, result.cols)
        if let y = epilogue.reluOutput { // ck_relu_backward(y, c, c) row by row
            result.storage.withUnsafeMutableBufferPointer { c in
                y.storage.withUnsafeBufferPointer { yBuffer in
                    for i in 0..<m {
                        ck_relu_backward(Int64(n), yBuffer.baseAddress! + i * y.ld, c.baseAddress! + i * ld,
                                         c.baseAddress! + i * ld)
                    }
                }
            }
            return result
        }
        result.storage.withUnsafeMutableBufferPointer { c in
            if let bias = epilogue.bias { ck_bias_add(Int64(m), Int64(n), c.baseAddress, Int64(ld), bias) }
            for i in 0..<m where epilogue.relu {
                ck_relu_forward(Int64(n), c.baseAddress! + i * ld, c.baseAddress! + i * ld)
            }
        }
        return result
    }

    /// Asserts the fused call equals the unfused sequence (C and its padding, bit for bit)
    /// with no bias and with `bias`, each without and with the ReLU.
    func assertEpiloguesMatchUnfused(
        bias: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        for epilogue in [nil, bias].flatMap({ b in [false, true].map { GEMMEpilogue(bias: b, relu: $0) } }) {
            assertBitwiseEqual(
                run(epilogue: epilogue).storage, runUnfused(epilogue: epilogue).storage,
                "\(what), bias \(epilogue.bias == nil ? "NULL" : "given") relu \(epilogue.relu)",
                file: file, line: line)
        }
    }
}

/// n random biases in -1...1, with -0.0 first (so that -0.0 + -0.0 keeps its sign).
private func randomBias(_ n: Int, using rng: inout SeededGenerator) -> [Float] {
    var bias = randomFloats(n, using: &rng)
    bias[0] = -0.0
    return bias
}

/// A ReLU's output for an m x n block, with leading dimension n + 2: values in -1...1 with
/// +0, -0, NaN and a tiny positive value among them (only y > 0 passes the gradient).
private func randomReLUOutput(_ m: Int, _ n: Int, using rng: inout SeededGenerator) -> Matrix {
    var values = randomFloats(m * n, using: &rng)
    let special: [Float] = [0, -0.0, .nan, .leastNonzeroMagnitude]
    for (index, value) in special.enumerated() where index < values.count { values[(index * 7919) % values.count] = value }
    return Matrix(rows: m, cols: n, ld: n + 2, values: values)
}

/// A random problem whose results include the cases the ReLU must pass through unchanged:
/// row 0 of A is zero, so with alpha < 0 and beta == 0 row 0 of C is -0.0 (kept by the
/// ReLU once -0.0 is added); with beta != 0 one element of C is NaN (it stays NaN).
private func problemWithSpecialValues(
    m: Int, n: Int, k: Int, alpha: Float, beta: Float, using rng: inout SeededGenerator
) -> GEMMProblem {
    var problem = GEMMProblem.random(m: m, n: n, k: k, alpha: alpha, beta: beta, using: &rng)
    for p in 0..<k { problem.a[0, p] = 0 }
    if beta != 0 { problem.c[m - 1, n - 1] = .nan }
    return problem
}

final class GEMMEpilogueTests: XCTestCase {
    /// Each routing of the driver (gemm.c) with partial tiles and vectors: the broadcast form
    /// (small products; with A transposed and C taller than wide, or both transposed, on the
    /// transposed problem D = C^T, where the bias runs along D's rows; n == 1 with ldc 1
    /// stores D's single row directly), the dot form (long k, A not transposed, and few columns,
    /// or B transposed and few rows: then in blocks of columns),
    /// and the packed path, in one k block and in several (k above every path's KC), and in
    /// several column blocks (n above every path's NC), with B~ shared or each thread's own
    /// slivers (few rows, a large B; B as stored read in place, or packed when larger).
    /// k <= 4 (alpha 1, beta 0, D = C) runs in row panels of up to 4 vectors (of 16, 8 or 4
    /// floats): whole panels and a partial vector (n 130), a last panel of 4 vectors with a
    /// partial one (n 60 with 16 or 8 floats, n 15 with 4), whole vectors only (n 16), and
    /// k = 5 just past them.
    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (20, 100, 2), (5, 3, 9), (7, 33, 11), (13, 17, 40), (33, 7, 11), (9, 1, 5), (1, 40, 3),
        (6, 130, 1), (4, 60, 4), (7, 16, 3), (3, 15, 2), (3, 20, 5),
        (30, 3, 100), (21, 15, 64), (70, 50, 90), (50, 10, 600), (13, 37, 1100), (5, 4100, 16),
        (29, 1000, 300), (20, 600, 1000),
        // Packed with B~ shared on the two-FMA table too (past its along_rows_max_b).
        (257, 257, 911),
    ]

    /// (alpha, beta) pairs: beta 0, 1 and another value; alpha 1 (skipped multiply in the
    /// broadcast form) and others.
    private static let scalings: [(alpha: Float, beta: Float)] = [(1, 0), (-0.5, 1), (1.5, -0.25), (-0.7, 0)]

    /// The shapes take every route on every table.
    func testShapesTakeEveryRoute() {
        assertShapesTakeEveryRoute(Self.shapes, scalings: Self.scalings, epilogue: CK_GEMM_EPILOGUE_BIAS_RELU)
    }

    func testFusedEqualsGEMMThenBiasAddThenReLUOnEveryRouting() {
        var rng = SeededGenerator(seed: 11)
        for shape in Self.shapes {
            for (index, scaling) in Self.scalings.enumerated() {
                let problem = problemWithSpecialValues(
                    m: shape.m, n: shape.n, k: shape.k, alpha: scaling.alpha, beta: scaling.beta, using: &rng)
                let bias = randomBias(shape.n, using: &rng)
                // Padding 0 on every other scaling, so that n == 1 also runs with ldc 1.
                let padding = [0, 3][index % 2]
                forEachSupportedArchitecture { path in
                    for t in transposes {
                        problem.stored(transA: t.a, transB: t.b, padding: padding).assertEpiloguesMatchUnfused(
                            bias: bias,
                            "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), alpha "
                                + "\(scaling.alpha) beta \(scaling.beta), padding \(padding), path \(path)")
                    }
                }
            }
        }
    }

    /// ck_sgemm_relu_backward on every routing, path, transpose and padding of C (y has its
    /// own padding), and on the scale path: bitwise ck_sgemm, then ck_relu_backward.
    func testReLUBackwardEqualsGEMMThenReLUBackwardOnEveryRouting() {
        var rng = SeededGenerator(seed: 14)
        for shape in Self.shapes + [(m: 9, n: 40, k: 0)] {
            for (index, scaling) in Self.scalings.enumerated() {
                let problem = problemWithSpecialValues(
                    m: shape.m, n: shape.n, k: max(shape.k, 1), alpha: scaling.alpha, beta: scaling.beta, using: &rng)
                let epilogue = GEMMEpilogue(bias: nil, relu: false, reluOutput: randomReLUOutput(shape.m, shape.n, using: &rng))
                let padding = [0, 3][index % 2]
                forEachSupportedArchitecture { path in
                    for t in transposes {
                        let stored = problem.stored(transA: t.a, transB: t.b, padding: padding)
                        let call = shape.k == 0 ? stored.withoutOperands(alpha: scaling.alpha, k: 0) : stored
                        assertBitwiseEqual(
                            call.run(epilogue: epilogue).storage, call.runUnfused(epilogue: epilogue).storage,
                            "relu backward, m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), "
                                + "alpha \(scaling.alpha) beta \(scaling.beta), padding \(padding), path \(path)")
                    }
                }
            }
        }
    }

    /// alpha == 0 or k == 0: C = act(beta * C + bias), A and B not read (NULL here).
    func testScalePathAppliesTheEpilogue() {
        var rng = SeededGenerator(seed: 12)
        let (m, n) = (9, 40)
        let bias = randomBias(n, using: &rng)
        for (alpha, k) in [(Float(0), 33), (2, 0)] {
            for beta: Float in [0, 1, 0.5] {
                let problem = problemWithSpecialValues(m: m, n: n, k: 1, alpha: alpha, beta: beta, using: &rng)
                let call = problem.stored(transA: false, transB: false, padding: 2).withoutOperands(alpha: alpha, k: k)
                forEachSupportedArchitecture { path in
                    call.assertEpiloguesMatchUnfused(bias: bias, "alpha \(alpha) k \(k) beta \(beta), path \(path)")
                }
            }
        }
    }

    /// 1 and 2 threads give the same bits, equal to the unfused sequence, on shapes that go
    /// parallel: the packed path (on the Zen 4 table, with A and B as stored, the broadcast
    /// form split by columns or, 200 × 40, by rows), the dot form split by rows and (B
    /// transposed, few rows) by columns, and the scale path (k == 0).
    func testThreadCountDoesNotChangeTheBits() {
        var rng = SeededGenerator(seed: 13)
        for shape in [(m: 300, n: 200, k: 300), (m: 301, n: 10, k: 1024), (m: 20, n: 300, k: 200),
                      (m: 200, n: 300, k: 0), (m: 200, n: 40, k: 300)] {
            let problem = problemWithSpecialValues(
                m: shape.m, n: shape.n, k: max(shape.k, 1), alpha: 1, beta: 0.5, using: &rng)
            let biasReLU = GEMMEpilogue(bias: randomBias(shape.n, using: &rng), relu: true)
            let reluBackward = GEMMEpilogue(bias: nil, relu: false, reluOutput: randomReLUOutput(shape.m, shape.n, using: &rng))
            for t in transposes {
                let stored = problem.stored(transA: t.a, transB: t.b, padding: 1)
                let call = shape.k == 0 ? stored.withoutOperands(alpha: 1, k: 0) : stored
                forEachSupportedArchitecture { path in
                    for epilogue in [biasReLU, reluBackward] {
                        let what = "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), path \(path), "
                            + (epilogue.reluOutput == nil ? "bias+relu" : "relu backward")
                        let fused = assertSameResultForThreadCounts([1, 2], what) { call.run(epilogue: epilogue).storage }
                        let unfused = withThreads(2) { call.runUnfused(epilogue: epilogue).storage }
                        assertBitwiseEqual(fused, unfused, "fused vs unfused, " + what)
                    }
                }
            }
        }
    }
}
