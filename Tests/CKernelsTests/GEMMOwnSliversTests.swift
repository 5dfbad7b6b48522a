// The packed routes' own slivers (each thread packs the B slivers of its own columns) against
// the naive reference, on every GEMM path this CPU supports and on 1, 2 and 3 threads.
import CKernels
import DeepLearning
import XCTest

final class GEMMOwnSliversTests: XCTestCase {
    /// Products of one k block and one A~ block with C's rows on cache lines: on the two-FMA
    /// and AVX2 tables they take own slivers on any thread count however small B is, each
    /// thread packing all of A~. On every table they match the reference and give the same
    /// bits on 1, 2 and 3 threads.
    func testOneBlockProductsWithCOnCacheLinesMatchReferenceOnAnyThreadCount() {
        // Up to an A~ block of mc rows (240; 144 on AVX2) and kc deep (1024; 256 on AVX2).
        let shapes = [
            (CK_GEMM_ARCH_AVX512_TWO_FMA, [(m: 240, n: 240, k: 32), (m: 128, n: 128, k: 128), (m: 64, n: 240, k: 300)]),
            (CK_GEMM_ARCH_AVX2, [(m: 144, n: 144, k: 32), (m: 128, n: 128, k: 128), (m: 96, n: 96, k: 256)]),
        ]
        for (arch, shapes) in shapes {
            assertOwnSliversMatchReference(
                shapes, seed: 13, rowsApart: { $0.n }, on: arch,
                take: [CK_GEMM_ROUTE_PACKED_OWN_SLIVERS, CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE])
        }
    }

    /// Own slivers of a B as stored whose rows are 4096 floats (16 KB) apart, too few sets of
    /// L2 to read it in place, are packed in groups of 16 on the AVX2 table, 8 rows at a time:
    /// 256 slivers, 255 and a partial one, or 13 (one group a thread), cut into groups from
    /// each thread's first column (the last group of a share shorter, and a thread that takes
    /// another's last units packs their groups), in one k block and in two. On every table
    /// they match the reference and give the same bits on 1, 2 and 3 threads.
    func testOwnSliversInGroupsMatchReferenceOnAnyThreadCount() {
        assertOwnSliversMatchReference(
            [(m: 20, n: 4096, k: 40), (m: 20, n: 4090, k: 300), (m: 20, n: 200, k: 300)], seed: 17,
            rowsApart: { _ in 4096 }, on: CK_GEMM_ARCH_AVX2, take: [CK_GEMM_ROUTE_PACKED_OWN_SLIVERS])
    }

    /// For each shape and transpose: on table `arch` with 2 threads the product takes one of
    /// `routes` when its operands' rows are `rowsApart(shape)` floats apart (passed to
    /// ck_gemm_route_for as n, whose B and C it takes dense); stored so, with C's rows on cache
    /// lines, on every table this CPU supports it matches the reference and gives the same bits
    /// on 1, 2 and 3 threads.
    private func assertOwnSliversMatchReference(
        _ shapes: [(m: Int, n: Int, k: Int)], seed: UInt64, rowsApart: ((m: Int, n: Int, k: Int)) -> Int,
        on arch: ck_gemm_arch, take routes: [ck_gemm_route], file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = SeededGenerator(seed: seed)
        for shape in shapes {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: 1, beta: 0.5, using: &rng)
            let reference = referenceGEMM(alpha: problem.alpha, a: problem.a, b: problem.b, beta: problem.beta, c: problem.c)
            let ld = rowsApart(shape)
            for t in transposes {
                let route = ck_gemm_route_for(
                    arch, 2, t.a ? 1 : 0, t.b ? 1 : 0, Int64(shape.m), Int64(ld), Int64(shape.k), Int64(ld),
                    problem.alpha, problem.beta, CK_GEMM_EPILOGUE_NONE)
                XCTAssertTrue(routes.contains(route),
                              "\(shape), transA \(t.a) transB \(t.b): \(String(cString: ck_gemm_route_name(route)))",
                              file: file, line: line)
                let call = problem.stored(transA: t.a, transB: t.b, padding: ld - shape.n)
                forEachSupportedArchitecture(file: file, line: line) { path in
                    let what = "\(shape), transA \(t.a) transB \(t.b), path \(path)"
                    let c = assertSameResultForThreadCounts([1, 2, 3], what, file: file, line: line) {
                        call.runWithCOnCacheLines()
                    }
                    let rows = (0..<shape.m).flatMap { i in c[(i * ld)..<(i * ld + shape.n)] }
                    assertClose(rows, reference.values, tolerance: reference.bounds, what, file: file, line: line)
                }
            }
        }
    }
}
