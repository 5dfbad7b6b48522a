// The packed routes' own slivers (each thread packs the B slivers of its own columns) against
// the naive reference, on every GEMM path this CPU supports and on 1, 2 and 3 threads.
import CKernels
import DeepLearning
import XCTest

final class GEMMOwnSliversTests: XCTestCase {
    /// Products of one k block and one A~ block with C's rows on cache lines: on the two-FMA
    /// table they take own slivers on any thread count however small B is, each thread packing
    /// all of A~. On every table they match the reference and give the same bits on 1, 2 and
    /// 3 threads.
    func testOneBlockProductsWithCOnCacheLinesMatchReferenceOnAnyThreadCount() {
        var rng = SeededGenerator(seed: 13)
        for shape in [(m: 240, n: 240, k: 32), (m: 128, n: 128, k: 128), (m: 64, n: 240, k: 300)] {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: 1, beta: 0.5, using: &rng)
            let reference = referenceGEMM(alpha: problem.alpha, a: problem.a, b: problem.b, beta: problem.beta, c: problem.c)
            for t in transposes {
                let route = ck_gemm_route_for(
                    CK_GEMM_ARCH_AVX512_TWO_FMA, 2, t.a ? 1 : 0, t.b ? 1 : 0, Int64(shape.m), Int64(shape.n),
                    Int64(shape.k), Int64(shape.n), problem.alpha, problem.beta, CK_GEMM_EPILOGUE_NONE)
                XCTAssertTrue(
                    [CK_GEMM_ROUTE_PACKED_OWN_SLIVERS, CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE].contains(route),
                    "\(shape), transA \(t.a) transB \(t.b): \(String(cString: ck_gemm_route_name(route)))")
                let call = problem.stored(transA: t.a, transB: t.b) // C dense: ldc = n, 16 floats a line
                forEachSupportedArchitecture { path in
                    let what = "\(shape), transA \(t.a) transB \(t.b), path \(path)"
                    let c = assertSameResultForThreadCounts([1, 2, 3], what) { call.runWithCOnCacheLines() }
                    assertClose(c, reference.values, tolerance: reference.bounds, what)
                }
            }
        }
    }

    /// Own slivers of a B as stored whose rows are 4096 floats (16 KB) apart, too few sets of
    /// L2 to read it in place, are packed in groups of 16 on the AVX2 table, 8 rows at a time:
    /// 256 slivers, 255 and a partial one, or 13 (one group a thread), cut into groups from
    /// each thread's first column (the last group of a share shorter, and a thread that takes
    /// another's last units packs their groups), in one k block and in two. On every table
    /// they match the reference and give the same bits on 1, 2 and 3 threads.
    func testOwnSliversInGroupsMatchReferenceOnAnyThreadCount() {
        var rng = SeededGenerator(seed: 17)
        for shape in [(m: 20, n: 4096, k: 40), (m: 20, n: 4090, k: 300), (m: 20, n: 200, k: 300)] {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: 1, beta: 0.5, using: &rng)
            let reference = referenceGEMM(alpha: problem.alpha, a: problem.a, b: problem.b, beta: problem.beta, c: problem.c)
            for t in transposes {
                // The route of B's rows 4096 apart (ck_gemm_route_for takes ldb = n).
                let route = ck_gemm_route_for(
                    CK_GEMM_ARCH_AVX2, 2, t.a ? 1 : 0, t.b ? 1 : 0, Int64(shape.m), 4096, Int64(shape.k), 4096,
                    problem.alpha, problem.beta, CK_GEMM_EPILOGUE_NONE)
                XCTAssertEqual(route, CK_GEMM_ROUTE_PACKED_OWN_SLIVERS,
                               "\(shape), transA \(t.a) transB \(t.b): \(String(cString: ck_gemm_route_name(route)))")
                let call = problem.stored(transA: t.a, transB: t.b, padding: 4096 - shape.n)
                forEachSupportedArchitecture { path in
                    let what = "\(shape), transA \(t.a) transB \(t.b), path \(path)"
                    let c = assertSameResultForThreadCounts([1, 2, 3], what) { call.run().storage }
                    let rows = (0..<shape.m).flatMap { i in c[(i * call.c.ld)..<(i * call.c.ld + shape.n)] }
                    assertClose(rows, reference.values, tolerance: reference.bounds, what)
                }
            }
        }
    }
}
