// ck_sgemm against a naive Double reference, on every GEMM path this CPU supports. The
// problem, call and path helpers here also serve the other GEMM test files.
import CKernels
import DeepLearning
import XCTest

/// One GEMM problem in logical form: C = alpha * A * B + beta * C, with A m x k and B k x n
/// as op(A) and op(B) (the test stores them transposed or not).
struct GEMMProblem {
    var alpha: Float
    var beta: Float
    var a: Matrix
    var b: Matrix
    var c: Matrix

    var m: Int { a.rows }
    var n: Int { b.cols }
    var k: Int { a.cols }

    /// Random A, B and C with entries in -1...1. With beta == 0, C is NaN (it must not be read).
    static func random(
        m: Int, n: Int, k: Int, alpha: Float = 1, beta: Float = 0, using rng: inout SeededGenerator
    ) -> GEMMProblem {
        let a = Matrix.random(rows: m, cols: k, using: &rng)
        let b = Matrix.random(rows: k, cols: n, using: &rng)
        let c = beta == 0
            ? Matrix(rows: m, cols: n, values: [Float](repeating: .nan, count: m * n))
            : Matrix.random(rows: m, cols: n, using: &rng)
        return GEMMProblem(alpha: alpha, beta: beta, a: a, b: b, c: c)
    }

    /// The same problem restricted to some rows of C (and of A).
    func rows(_ selected: [Int]) -> GEMMProblem {
        func pick(_ x: Matrix) -> Matrix {
            Matrix(rows: selected.count, cols: x.cols, values: selected.flatMap { i in (0..<x.cols).map { x[i, $0] } })
        }
        return GEMMProblem(alpha: alpha, beta: beta, a: pick(a), b: b, c: pick(c))
    }

    /// The operands stored as ck_sgemm will read them: A and B transposed or not, and A, B
    /// and C with `padding` floats after each row.
    func stored(transA: Bool, transB: Bool, padding: Int = 0) -> StoredGEMM {
        StoredGEMM(
            transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
            a: transA ? a.transposed(ld: m + padding) : a.withLeadingDimension(k + padding),
            b: transB ? b.transposed(ld: k + padding) : b.withLeadingDimension(n + padding),
            c: c.withLeadingDimension(n + padding))
    }
}

/// A GEMM call with its operands in memory, ready to run (several times).
struct StoredGEMM {
    let transA: Bool, transB: Bool
    let m: Int, n: Int, k: Int
    let alpha: Float, beta: Float
    let a: Matrix?, b: Matrix?, c: Matrix

    /// Calls ck_sgemm (or, given an epilogue, ck_sgemm_bias_relu or ck_sgemm_relu_backward) on a copy of C and returns
    /// C as the kernel left it.
    func run(epilogue: GEMMEpilogue? = nil) -> Matrix {
        var result = c
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta,
              c: &result, epilogue: epilogue)
        return result
    }
}

extension StoredGEMM {
    /// ck_sgemm with C copied into a 64-byte-aligned buffer for the call, as the library's
    /// buffers are (its rows then start on cache lines when ldc is a multiple of 16 floats);
    /// returns C's storage as the kernel left it.
    func runWithCOnCacheLines() -> [Float] {
        let count = c.storage.count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        defer { raw.deallocate() }
        let cPointer = raw.bindMemory(to: Float.self, capacity: count)
        cPointer.initialize(from: c.storage, count: count)
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta,
              c: cPointer, ldc: c.ld)
        return Array(UnsafeBufferPointer(start: cPointer, count: count))
    }
}

/// The epilogue arguments of ck_sgemm_bias_relu (nil bias passes NULL), or, given
/// reluOutput, of ck_sgemm_relu_backward (y, m x n with its own leading dimension; bias and
/// relu unused).
struct GEMMEpilogue {
    var bias: [Float]?
    var relu: Bool
    var reluOutput: Matrix? = nil
}

/// ck_sgemm on stored operands, or ck_sgemm_bias_relu or ck_sgemm_relu_backward when given
/// an epilogue; nil A or B
/// passes a NULL pointer (with the smallest valid leading dimension).
func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Matrix?, b: Matrix?,
    beta: Float, c: inout Matrix, epilogue: GEMMEpilogue? = nil
) {
    let ldc = c.ld
    c.storage.withUnsafeMutableBufferPointer { cBuffer in
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, b: b, beta: beta,
              c: cBuffer.baseAddress, ldc: ldc, epilogue: epilogue)
    }
}

/// The same, on C at `c` with its rows `ldc` floats apart.
func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: Matrix?, b: Matrix?,
    beta: Float, c: UnsafeMutablePointer<Float>?, ldc: Int, epilogue: GEMMEpilogue? = nil
) {
    let lda = a?.ld ?? max(1, transA ? m : k)
    let ldb = b?.ld ?? max(1, transB ? k : n)
    withOptionalPointer(a?.storage) { aPointer in
        withOptionalPointer(b?.storage) { bPointer in
            withOptionalPointer(epilogue?.bias) { biasPointer in
                let (ta, tb): (Int32, Int32) = (transA ? 1 : 0, transB ? 1 : 0)
                if let y = epilogue?.reluOutput {
                    y.storage.withUnsafeBufferPointer { yBuffer in
                        ck_sgemm_relu_backward(
                            ta, tb, Int64(m), Int64(n), Int64(k), alpha, aPointer, Int64(lda), bPointer,
                            Int64(ldb), beta, c, Int64(ldc), yBuffer.baseAddress, Int64(y.ld))
                    }
                } else if let epilogue {
                    ck_sgemm_bias_relu(
                        ta, tb, Int64(m), Int64(n), Int64(k), alpha, aPointer, Int64(lda), bPointer,
                        Int64(ldb), beta, c, Int64(ldc), biasPointer, epilogue.relu ? 1 : 0)
                } else {
                    ck_sgemm(
                        ta, tb, Int64(m), Int64(n), Int64(k), alpha, aPointer, Int64(lda), bPointer,
                        Int64(ldb), beta, c, Int64(ldc))
                }
            }
        }
    }
}

private func withOptionalPointer<R>(_ array: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
    guard let array else { return body(nil) }
    return array.withUnsafeBufferPointer { body($0.baseAddress) }
}

let allPaths: [ck_gemm_path] = [CK_GEMM_PATH_PORTABLE, CK_GEMM_PATH_AVX2, CK_GEMM_PATH_AVX512]

/// Every architecture the GEMM has a table for.
let allArchitectures: [ck_gemm_arch] = [
    CK_GEMM_ARCH_PORTABLE, CK_GEMM_ARCH_AVX2, CK_GEMM_ARCH_AVX512_ONE_FMA, CK_GEMM_ARCH_AVX512_TWO_FMA,
    CK_GEMM_ARCH_AVX512_ZEN5,
]

/// The architectures whose path this CPU runs.
var supportedArchitectures: [ck_gemm_arch] {
    allArchitectures.filter { ck_gemm_path_supported(ck_gemm_arch_path($0)) == 1 }
}

/// Runs `body` once on every GEMM architecture (path and table) this CPU supports, then
/// restores the original one: every path, and every table's block sizes and routes.
func forEachSupportedArchitecture(
    file: StaticString = #filePath, line: UInt = #line, _ body: (_ archName: String) -> Void
) {
    let original = ck_gemm_get_arch()
    defer { ck_gemm_set_arch(original) }
    for arch in supportedArchitectures {
        let name = String(cString: ck_gemm_arch_name(arch))
        XCTAssertEqual(ck_gemm_set_arch(arch), 0, "setting supported architecture \(name)", file: file, line: line)
        XCTAssertEqual(ck_gemm_get_arch(), arch, file: file, line: line)
        XCTAssertEqual(ck_gemm_get_path(), ck_gemm_arch_path(arch), file: file, line: line)
        body(name)
    }
}

let transposes: [(a: Bool, b: Bool)] = [(false, false), (false, true), (true, false), (true, true)]

/// Asserts that `shapes` with every transpose, the (alpha, beta) of `scalings` cycled over
/// them and `epilogue` take every route on every table with 2 threads (packed-along-rows on
/// the two-FMA table only): the routes are planned, not run.
func assertShapesTakeEveryRoute(
    _ shapes: [(m: Int, n: Int, k: Int)], scalings: [(alpha: Float, beta: Float)],
    epilogue: ck_gemm_epilogue_kind, file: StaticString = #filePath, line: UInt = #line
) {
    for arch in allArchitectures {
        var taken = Set<UInt32>()
        for (index, shape) in shapes.enumerated() {
            let scaling = scalings[index % scalings.count]
            for t in transposes {
                let route = ck_gemm_route_for(
                    arch, 2, t.a ? 1 : 0, t.b ? 1 : 0, Int64(shape.m), Int64(shape.n), Int64(shape.k),
                    Int64(shape.n), scaling.alpha, scaling.beta, epilogue)
                taken.insert(route.rawValue)
            }
        }
        var expected: [ck_gemm_route] = [
            CK_GEMM_ROUTE_DOT, CK_GEMM_ROUTE_ROW_PANELS, CK_GEMM_ROUTE_BROADCAST,
            CK_GEMM_ROUTE_BROADCAST_TRANSPOSED, CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_OWN_SLIVERS,
            CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE,
        ]
        if arch == CK_GEMM_ARCH_AVX512_TWO_FMA { expected.append(CK_GEMM_ROUTE_PACKED_ALONG_ROWS) }
        for route in expected where !taken.contains(route.rawValue) {
            XCTFail(
                "no shape takes route \(String(cString: ck_gemm_route_name(route))) on "
                    + String(cString: ck_gemm_arch_name(arch)), file: file, line: line)
        }
    }
}

/// Checks `problem` on every supported path and transpose combination: C against the
/// reference within the k-scaled bound, and C's row padding left untouched.
private func assertMatchesReference(
    _ problem: GEMMProblem, padding: Int, file: StaticString = #filePath, line: UInt = #line
) {
    let reference = referenceGEMM(alpha: problem.alpha, a: problem.a, b: problem.b, beta: problem.beta, c: problem.c)
    forEachSupportedArchitecture(file: file, line: line) { path in
        for t in transposes {
            let c = problem.stored(transA: t.a, transB: t.b, padding: padding).run()
            let what = "m \(problem.m) n \(problem.n) k \(problem.k), transA \(t.a) transB \(t.b), "
                + "alpha \(problem.alpha) beta \(problem.beta), padding \(padding), path \(path)"
            assertClose(c.values, reference.values, tolerance: reference.bounds, what, file: file, line: line)
            if let changed = c.firstChangedPadding {
                XCTFail("padding of C written at row \(changed.row) column \(changed.col): \(what)", file: file, line: line)
            }
        }
    }
}

final class GEMMTests: XCTestCase {
    /// Sizes around plausible tile sizes (MR 4/6/12/14, NR 8/16/32, KC 256-1024, MC 96-480,
    /// NC 2048/4096), with 1 and primes; spread over m, n and k rather than every combination.
    /// Together they take every route on every table (testShapesTakeEveryRoute); the larger
    /// ones go parallel with the default threads.
    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (1, 17, 5), (2, 3, 7), (5, 16, 1), (7, 33, 11), (13, 31, 2), (11, 47, 13),
        (15, 32, 17), (16, 48, 3), (17, 49, 31), (3, 1, 256), (1, 255, 33), (4, 16, 255),
        (6, 64, 47), (12, 15, 48), (14, 7, 49), (48, 95, 96), (49, 129, 97), (95, 17, 255),
        (96, 33, 127), (97, 127, 257), (127, 2, 383), (128, 13, 385), (129, 96, 128),
        (6, 257, 384), (255, 5, 15), (256, 31, 129), (257, 33, 385), (383, 16, 5), (385, 11, 3),
        // Around MC values (120, 144, 240, 480), NC values (2048, 4096) and two KC blocks.
        (119, 9, 20), (121, 40, 9), (143, 17, 30), (145, 33, 12), (479, 3, 10), (481, 34, 7),
        (239, 20, 60), (241, 33, 40), (3, 2047, 5), (2, 2049, 6), (1, 4097, 3), (10, 3, 511),
        (9, 18, 513), (33, 17, 1023), (20, 40, 1025),
        // Few rows and a large B (packed-own-slivers).
        (20, 300, 1100),
        // Packed, k at the two-FMA table's kernel_prefetch_b_rows (32): the microkernel asks
        // for no row ahead, or for one. The last tile column is 8 wide: the narrow 12 × 32
        // kernel on one vector, masked.
        (300, 200, 32), (300, 200, 33),
        // Tall, few columns, past the direct forms' size (broadcast-transposed with A
        // transposed, on 2 threads).
        (700, 10, 300),
        // Own slivers on 1 and 2 threads: whole slivers of B as stored are read in place,
        // rows ldb apart; the last one (n % 32 == 8) is packed; the last tile row has 5 of 12
        // (or 6) rows.
        (29, 1000, 300),
        // Own slivers of a B as stored too large to be read in place on the Zen 4 table
        // (600,000 floats): packed, the last one 24 columns wide. With B transposed, each
        // sliver (32 × 1000 floats) is transposed in 16 × 16 blocks
        // (ck_transpose_blocks_avx512).
        (20, 600, 1000),
        // Own slivers of more rows than one MC block on the Zen 4 table (A~ of 250 × 1024
        // floats), two KC blocks, the last sliver 29 columns wide (the narrow 12 × 32 kernel on
        // two vectors, the last masked).
        (250, 701, 1100),
        // Packed with B~ shared on the two-FMA table too: each thread's part of a B~ block is
        // 1024 × 288 floats, past its along_rows_max_b (the smaller packed shapes above go
        // along rows there). Its 8 × 48 tiles: two KC blocks (1024 steps, the assembly's two
        // loops, and 5 steps, two pairs and one step in C), a last tile row of 1 row and a
        // last tile column of 17.
        (257, 257, 1029),
        // The same with a last tile column of 16 and of 47 columns: the narrow 8 × 48 kernel on
        // one whole vector, and on three with the last masked.
        (257, 304, 1029), (257, 335, 1029),
        // Packed past NC (2048, or 2112 on the two-FMA table): two equal column blocks
        // (ck_gemm_equal_block), each with a partial last sliver; more than MC rows.
        (250, 2150, 20),
    ]

    /// The shapes above, with every transpose and their (alpha, beta), take every route on
    /// every table, so that the test below covers each.
    func testShapesTakeEveryRoute() {
        assertShapesTakeEveryRoute(Self.shapes, scalings: Self.scalings, epilogue: CK_GEMM_EPILOGUE_NONE)
    }

    /// (alpha, beta) pairs cycled over the shapes.
    private static let scalings: [(alpha: Float, beta: Float)] = [
        (1, 0), (1, 1), (-0.5, 2), (1.5, -0.25), (0.7, 0),
    ]

    func testRandomShapesAllTransposesAndPathsMatchReference() {
        var rng = SeededGenerator(seed: 1)
        for (index, shape) in Self.shapes.enumerated() {
            let scaling = Self.scalings[index % Self.scalings.count]
            let problem = GEMMProblem.random(
                m: shape.m, n: shape.n, k: shape.k, alpha: scaling.alpha, beta: scaling.beta, using: &rng)
            assertMatchesReference(problem, padding: [0, 1, 3, 16][index % 4])
        }
    }

    /// The direct forms' narrow operands with AVX-512 permutes, in blocks of 16 rows or columns
    /// (counts below, at and past a block, and not a multiple of it), padding 0 so that they
    /// are dense: B's transposed copies, a B of 2 to 4 columns (the dot form, B as stored) or
    /// op(B) of 2 to 4 rows (the broadcast form, B transposed), and past 4 in blocks of 16 × 16
    /// (5 to 15 columns; 17 to 35 terms, two or three blocks wide); and a C of 2 to 15 columns
    /// computed as its transpose (A transposed, C taller than wide, beta 0: like dW = Xᵀ·dY),
    /// stored interleaved where one tile holds all of D's rows (up to 8 with AVX-512's tiles
    /// of 8 rows, 4 elsewhere), through a tile buffer past that (8 rows, then 1 to 7).
    func testNarrowOperandsOfTheDirectFormsMatchReference() {
        var rng = SeededGenerator(seed: 8)
        let shapes: [(m: Int, n: Int, k: Int)] = [
            (5, 3, 100), (7, 2, 64), (3, 4, 257), (2, 3, 1000),
            (20, 100, 3), (9, 17, 2), (6, 33, 4), (1, 15, 3), (4, 16, 2), (2, 1000, 3),
            (6, 5, 70), (3, 15, 129), (10, 40, 17), (4, 33, 35),
        ]
        for (index, shape) in shapes.enumerated() {
            let scaling = Self.scalings[index % Self.scalings.count]
            let problem = GEMMProblem.random(
                m: shape.m, n: shape.n, k: shape.k, alpha: scaling.alpha, beta: scaling.beta, using: &rng)
            assertMatchesReference(problem, padding: 0)
        }
        for shape in [(m: 100, n: 3, k: 20), (m: 37, n: 2, k: 5), (m: 64, n: 4, k: 16), (m: 17, n: 3, k: 1),
                      (m: 16, n: 2, k: 7), (m: 40, n: 5, k: 9), (m: 33, n: 7, k: 32), (m: 70, n: 8, k: 3),
                      (m: 50, n: 10, k: 32), (m: 31, n: 12, k: 17), (m: 48, n: 15, k: 6)] {
            for alpha: Float in [1, -0.5] {
                let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: alpha, beta: 0, using: &rng)
                assertMatchesReference(problem, padding: 0)
            }
        }
    }

    /// Products of 1 to 5 terms per sum: with AVX-512, alpha 1, beta 0 and k <= 4 run in row
    /// panels of up to 4 vectors (whole panels, and a last one of 1 to 4 vectors); k = 5,
    /// another beta or C transposed (A transposed, C taller than wide) run in tiles.
    func testFewTermsMatchReference() {
        var rng = SeededGenerator(seed: 9)
        for k in 1...5 {
            for (m, n) in [(1, 16), (20, 100), (3, 60), (7, 130), (2, 1)] {
                for beta: Float in [0, 1] {
                    let problem = GEMMProblem.random(m: m, n: n, k: k, alpha: 1, beta: beta, using: &rng)
                    assertMatchesReference(problem, padding: [0, 3][(k + m) % 2])
                }
            }
        }
    }

    func testAlphaAndBetaCombinations() {
        var rng = SeededGenerator(seed: 2)
        for alpha: Float in [1, 2.5, -0.75] {
            for beta: Float in [0, 1, -0.5] {
                let problem = GEMMProblem.random(m: 19, n: 37, k: 70, alpha: alpha, beta: beta, using: &rng)
                assertMatchesReference(problem, padding: 5)
            }
        }
    }

    /// beta == 0: C is not read, so NaN and infinity in C are overwritten.
    func testBetaZeroOverwritesNaNAndInfinityInC() {
        var rng = SeededGenerator(seed: 3)
        for shape in [(m: 3, n: 5, k: 4), (m: 50, n: 70, k: 300)] {
            var problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: 1.25, beta: 0, using: &rng)
            for i in 0..<shape.m {
                for j in 0..<shape.n { problem.c[i, j] = [Float.nan, .infinity, -.infinity][(i + j) % 3] }
            }
            assertMatchesReference(problem, padding: 2)
        }
    }

    /// alpha == 0 reads neither A nor B (NaN there, or NULL pointers) and gives C = beta * C.
    func testAlphaZeroOnlyScalesC() {
        var rng = SeededGenerator(seed: 4)
        let (m, n, k) = (9, 40, 33)
        let nanA = Matrix(rows: m, cols: k, values: [Float](repeating: .nan, count: m * k))
        let nanB = Matrix(rows: k, cols: n, values: [Float](repeating: .nan, count: k * n))
        let c = Matrix.random(rows: m, cols: n, ld: n + 3, using: &rng)
        forEachSupportedArchitecture { path in
            for beta: Float in [0, 1, 0.5, -3] {
                for operands in [(nanA, nanB), nil] as [(Matrix, Matrix)?] {
                    var result = c
                    sgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 0, a: operands?.0,
                          b: operands?.1, beta: beta, c: &result)
                    let expected = c.values.map { beta == 0 ? 0 : beta * $0 }
                    let what = "beta \(beta), \(operands == nil ? "NULL" : "NaN") A and B, path \(path)"
                    assertEqualValues(result.values, expected, what)
                    XCTAssertNil(result.firstChangedPadding, what)
                }
            }
        }
    }

    /// k == 0 reads neither A nor B and scales C by beta (beta == 0 clears even NaN).
    func testKZeroScalesCByBeta() {
        var rng = SeededGenerator(seed: 5)
        let (m, n) = (20, 35)
        var c = Matrix.random(rows: m, cols: n, ld: n + 1, using: &rng)
        c[0, 0] = .nan
        forEachSupportedArchitecture { path in
            for t in transposes {
                for beta: Float in [0, 1, 0.5] {
                    var result = c
                    sgemm(transA: t.a, transB: t.b, m: m, n: n, k: 0, alpha: 2, a: nil, b: nil, beta: beta, c: &result)
                    let expected = c.values.map { beta == 0 ? 0 : beta * $0 }
                    let what = "beta \(beta), transA \(t.a) transB \(t.b), path \(path)"
                    assertEqualValues(result.values, expected, what)
                    XCTAssertNil(result.firstChangedPadding, what)
                }
            }
        }
    }

    /// m == 0 or n == 0: nothing to do, nothing written.
    func testEmptyOutputWritesNothing() {
        var rng = SeededGenerator(seed: 6)
        let a = Matrix.random(rows: 4, cols: 4, using: &rng), b = a
        var c = Matrix(rows: 4, cols: 0, ld: 4, values: [])
        sgemm(transA: false, transB: false, m: 4, n: 0, k: 4, alpha: 1, a: a, b: b, beta: 0, c: &c)
        XCTAssertNil(c.firstChangedPadding, "n == 0 wrote into C")
        var unused = Matrix(rows: 1, cols: 4, values: [1, 2, 3, 4])
        sgemm(transA: false, transB: false, m: 0, n: 4, k: 4, alpha: 1, a: a, b: b, beta: 0, c: &unused)
        XCTAssertEqual(unused.values, [1, 2, 3, 4], "m == 0 wrote into C")
    }

    /// Work is split by output rows or columns, never along k: 1, 2 and 3 threads give the
    /// same bits on shapes big enough to go parallel, whichever thread computes which tiles (a
    /// thread that finishes first takes over others' last columns of tiles or row panels, so
    /// the split varies from call to call). A sample of rows is also checked against the
    /// reference.
    func testThreadCountDoesNotChangeTheBits() {
        var rng = SeededGenerator(seed: 7)
        // Packed path split by rows and by columns (on the Zen 4 table, up to 512³ with A and
        // B as stored, the broadcast form split by columns, or by rows with fewer than 32
        // columns a thread: 301 × 40), and the dot form (few columns, long k).
        // Zen 4's own slivers past MC rows (250 rows, two KC blocks; 1 × 2 threads, 3 × 1).
        // C's transpose split by C's rows on the Zen 4 table from 2¹⁸ multiply-adds (1024 ×
        // 10 of 32 terms, A transposed). On the Zen 4 table, own slivers of B transposed on
        // 2 and 3 threads and a shared B~ on 1 (64 × 2048 of 16 terms). On the two-FMA table,
        // own slivers of 8 × 48 tiles on 2 threads, a shared B~ on 1 (24 × 480 of 2048 terms).
        for shape in [(m: 300, n: 700, k: 500), (m: 32, n: 1024, k: 256), (m: 301, n: 10, k: 1024),
                      (m: 250, n: 700, k: 1100), (m: 1024, n: 10, k: 32), (m: 64, n: 2048, k: 16),
                      (m: 301, n: 40, k: 200), (m: 24, n: 480, k: 2048)] {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: 1, beta: 0.5, using: &rng)
            let sampledRows = [0, 1, shape.m / 2, shape.m - 1]
            let sample = problem.rows(sampledRows)
            let reference = referenceGEMM(alpha: sample.alpha, a: sample.a, b: sample.b, beta: sample.beta, c: sample.c)
            for t in transposes {
                let call = problem.stored(transA: t.a, transB: t.b, padding: 3)
                forEachSupportedArchitecture { path in
                    let what = "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), path \(path)"
                    let results = assertSameResultForThreadCounts([1, 2, 3], what) { call.run().storage }
                    let sampled = sampledRows.flatMap { i in results[(i * call.c.ld)..<(i * call.c.ld + shape.n)] }
                    assertClose(sampled, reference.values, tolerance: reference.bounds, "sampled rows, " + what)
                }
            }
        }
    }

    /// A tile of fewer columns than the microkernel's (the last of a product whose n is not a
    /// multiple of the tile's) goes to the narrow form, which must give its columns the bits
    /// the whole tile gives them: the first n columns of a product 96 columns wide (a multiple
    /// of every tile width: 8, 16, 32 and 48) against the product of those n columns alone, on
    /// every packed route, transpose and table. (The Zen 4 table takes the broadcast form for
    /// these products with A and B as stored, which computes every element alone; its 12 × 32
    /// tiles are the Zen 5 table's.)
    func testNarrowTilesGiveTheBitsOfWholeTiles() {
        var rng = SeededGenerator(seed: 11)
        let wide = GEMMProblem.random(m: 64, n: 96, k: 200, alpha: 1.5, beta: 0.5, using: &rng)
        func firstColumns(_ x: Matrix, _ n: Int) -> Matrix {
            Matrix(rows: x.rows, cols: n, values: (0..<x.rows).flatMap { i in (0..<n).map { x[i, $0] } })
        }
        for n in [95, 89, 81, 80, 79, 65, 49] {
            let narrow = GEMMProblem(alpha: wide.alpha, beta: wide.beta, a: wide.a, b: firstColumns(wide.b, n),
                                     c: firstColumns(wide.c, n))
            forEachSupportedArchitecture { path in
                for t in transposes {
                    let what = "n \(n) of 96, transA \(t.a) transB \(t.b), path \(path)"
                    let route = String(cString: ck_gemm_route_name(ck_gemm_route_for(
                        ck_gemm_get_arch(), ck_get_num_threads(), t.a ? 1 : 0, t.b ? 1 : 0, 64, Int64(n), 200,
                        Int64(n + 1), wide.alpha, wide.beta, CK_GEMM_EPILOGUE_NONE)))
                    let zen4 = ck_gemm_get_arch() == CK_GEMM_ARCH_AVX512_ONE_FMA
                    XCTAssertTrue(route.hasPrefix("packed") || (zen4 && route == "broadcast"),
                                  "route \(route): " + what)
                    let whole = firstColumns(wide.stored(transA: t.a, transB: t.b).run(), n)
                    let got = narrow.stored(transA: t.a, transB: t.b, padding: 1).run()
                    assertBitwiseEqual(got.values, whole.values, what)
                }
            }
        }
    }

    func testSetPathOfUnsupportedPathFailsAndChangesNothing() throws {
        guard let unsupported = allPaths.first(where: { ck_gemm_path_supported($0) == 0 }) else {
            throw XCTSkip("this CPU supports every GEMM path (portable, AVX2, AVX-512): none to reject")
        }
        let original = ck_gemm_get_path()
        defer { ck_gemm_set_path(original) }
        XCTAssertEqual(ck_gemm_set_path(unsupported), -1)
        XCTAssertEqual(ck_gemm_get_path(), original)
    }

    func testPortablePathIsAlwaysSupportedAndDefaultIsSupported() {
        XCTAssertEqual(ck_gemm_path_supported(CK_GEMM_PATH_PORTABLE), 1)
        XCTAssertEqual(ck_gemm_path_supported(ck_gemm_get_path()), 1)
    }
}
