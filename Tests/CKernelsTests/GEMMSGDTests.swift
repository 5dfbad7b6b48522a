// ck_sgemm_sgd against its contract: where it takes the step (it returns 1), the parameters and
// momentum buffers of ck_sgemm (beta 0) into the gradient, then ck_sgd; elsewhere (0) that
// ck_sgemm alone, the parameters untouched. On every route, path, transpose and thread count,
// for every kind of SGD step.
import CKernels
import DeepLearning
import XCTest

/// ck_sgd's settings for one step.
private struct SGDStep {
    var lr: Float, momentum: Float, dampening: Float, weightDecay: Float
    var nesterov: Bool, firstStep: Bool
}

/// Plain SGD; momentum with dampening and weight decay after the first step; Nesterov; and
/// the first step with momentum (the buffer is then written, not read).
private let sgdSteps = [
    SGDStep(lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, firstStep: false),
    SGDStep(lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3, nesterov: false, firstStep: false),
    SGDStep(lr: 0.01, momentum: 0.8, dampening: 0, weightDecay: 0.02, nesterov: true, firstStep: false),
    SGDStep(lr: 0.2, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true),
]

/// Parameters and momentum buffers (m x n, dense; no buffer: empty, passed as NULL) after one
/// update, whether ck_sgemm_sgd took it, and the gradient buffer.
private struct Updated {
    var param: [Float], velocity: [Float]
    var stepped = false
    var grad: [Float] = []

    /// The momentum buffer as the kernels take it: NULL when there is none.
    mutating func withVelocityPointer<R>(_ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
        velocity.withUnsafeMutableBufferPointer { body($0.isEmpty ? nil : $0.baseAddress) }
    }

    /// The step with the stored gradient, where ck_sgemm_sgd did not take it: the caller's.
    mutating func finish(_ step: SGDStep) {
        guard !stepped else { return }
        let (grad, count) = (grad, Int64(param.count))
        var param = param
        withVelocityPointer { velocity in
            ck_sgd(count, &param, grad, velocity, step.lr, step.momentum, step.dampening,
                   step.weightDecay, step.nesterov ? 1 : 0, step.firstStep ? 1 : 0)
        }
        self.param = param
    }
}

extension StoredGEMM {
    /// ck_sgemm_sgd from `param` and `velocity` (empty: NULL); the gradient buffer starts as
    /// NaN.
    fileprivate func runSGD(_ step: SGDStep, param: [Float], velocity: [Float]) -> Updated {
        var updated = Updated(param: param, velocity: velocity)
        var (grad, param) = ([Float](repeating: .nan, count: m * n), param)
        updated.stepped = updated.withVelocityPointer { velocity in
            a!.storage.withUnsafeBufferPointer { a in
                b!.storage.withUnsafeBufferPointer { b in
                    ck_sgemm_sgd(
                        transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k), alpha, a.baseAddress,
                        Int64(self.a!.ld), b.baseAddress, Int64(self.b!.ld), &grad, &param, velocity, step.lr,
                        step.momentum, step.dampening, step.weightDecay, step.nesterov ? 1 : 0,
                        step.firstStep ? 1 : 0) == 1
                }
            }
        }
        (updated.grad, updated.param) = (grad, param)
        return updated
    }

    /// The unfused sequence: ck_sgemm with beta 0 into a dense gradient, then ck_sgd.
    fileprivate func runUnfusedSGD(_ step: SGDStep, param: [Float], velocity: [Float]) -> Updated {
        var updated = Updated(param: param, velocity: velocity)
        let dense = StoredGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: 0,
                               a: a, b: b, c: Matrix(rows: m, cols: n, values: [Float](repeating: .nan, count: m * n)))
        updated.grad = dense.run().storage
        updated.finish(step)
        return updated
    }

    /// Asserts, for every step kind, that ck_sgemm_sgd takes the step exactly when `steps`,
    /// with the unfused sequence's parameters and buffers, bit for bit, and otherwise stores
    /// the unfused sequence's gradient and leaves the parameters as they were.
    fileprivate func assertSGDMatchesUnfused(
        param: [Float], velocity: [Float], steps: Bool, _ what: String, file: StaticString = #filePath,
        line: UInt = #line
    ) {
        for (index, step) in sgdSteps.enumerated() {
            let fused = runSGD(step, param: param, velocity: velocity)
            let unfused = runUnfusedSGD(step, param: param, velocity: velocity)
            let what = "step kind \(index), " + what
            XCTAssertEqual(fused.stepped, steps, "took the step, " + what, file: file, line: line)
            XCTAssertEqual(ck_sgemm_sgd_takes_step(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k)),
                           fused.stepped ? 1 : 0, "ck_sgemm_sgd_takes_step, " + what, file: file, line: line)
            guard fused.stepped else {
                assertBitwiseEqual(fused.grad, unfused.grad, "gradient, " + what, file: file, line: line)
                assertBitwiseEqual(fused.param, param, "param, " + what, file: file, line: line)
                assertBitwiseEqual(fused.velocity, velocity, "velocity, " + what, file: file, line: line)
                continue
            }
            assertBitwiseEqual(fused.param, unfused.param, "param, " + what, file: file, line: line)
            assertBitwiseEqual(fused.velocity, unfused.velocity, "velocity, " + what, file: file, line: line)
        }
    }
}

/// Whether ck_sgemm_sgd takes the step for this product on the current table: where ck_sgemm
/// takes a packed route with B~ shared, in one k block (k at most 256, every table's kc or
/// less, here; the shapes have none between 256 and 1024).
private func takesTheStep(_ shape: (m: Int, n: Int, k: Int), _ t: (a: Bool, b: Bool)) -> Bool {
    let route = ck_gemm_route_for(ck_gemm_get_arch(), ck_get_num_threads(), t.a ? 1 : 0, t.b ? 1 : 0,
                                  Int64(shape.m), Int64(shape.n), Int64(shape.k), Int64(shape.n), 1, 0,
                                  CK_GEMM_EPILOGUE_NONE)
    return shape.k <= 256 && [CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_ALONG_ROWS].contains(route)
}

final class GEMMSGDTests: XCTestCase {
    /// The direct routes and the packed ones with own slivers (the update follows the stored
    /// product), the packed routes with B~ shared in one k block (the tiles go along rows, and
    /// each finished row panel updates its parameters) with partial tiles and several column
    /// blocks, and every packed route in several k blocks (k above every table's kc: the
    /// update follows the stored product). On the two-FMA table, 24 × 1500 × 200 is planned
    /// with B~ shared, but its 8 × 48 tiles lay out own slivers on 2 threads: the update
    /// follows the stored tiles, as on a team smaller than planned (SmallerTeamTests).
    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (5, 3, 9), (7, 33, 11), (30, 3, 100), (70, 50, 90), (29, 1000, 200), (20, 600, 250),
        (5, 4100, 16), (131, 97, 64), (257, 257, 200), (24, 1500, 200), (8, 2048, 256), (13, 37, 1100),
    ]

    /// The shapes with k at most 256 (every table's kc or less) take every packed route on
    /// every table (packed-along-rows on the two-FMA table only): the update runs in the
    /// row panels from "packed" and "packed-along-rows"; the others store the gradient.
    func testShapesTakeEveryPackedRouteInOneKBlock() {
        for arch in allArchitectures {
            var taken = Set<UInt32>()
            for shape in Self.shapes where shape.k <= 256 {
                for t in transposes {
                    taken.insert(ck_gemm_route_for(
                        arch, 2, t.a ? 1 : 0, t.b ? 1 : 0, Int64(shape.m), Int64(shape.n), Int64(shape.k),
                        Int64(shape.n), 1, 0, CK_GEMM_EPILOGUE_NONE).rawValue)
                }
            }
            var expected = [CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_OWN_SLIVERS,
                            CK_GEMM_ROUTE_PACKED_OWN_SLIVERS_IN_PLACE]
            if arch == CK_GEMM_ARCH_AVX512_TWO_FMA { expected.append(CK_GEMM_ROUTE_PACKED_ALONG_ROWS) }
            for route in expected where !taken.contains(route.rawValue) {
                XCTFail("no shape takes route \(String(cString: ck_gemm_route_name(route))) on "
                        + String(cString: ck_gemm_arch_name(arch)))
            }
        }
    }

    /// On 2 threads, as the routes above, whatever this machine's default.
    func testUpdateEqualsGEMMThenSGDOnEveryRoute() {
        withThreads(2) {
            var rng = SeededGenerator(seed: 41)
            for (index, shape) in Self.shapes.enumerated() {
                let alpha: Float = index % 2 == 0 ? 1 : -0.5
                let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: alpha, using: &rng)
                let param = randomFloats(shape.m * shape.n, using: &rng)
                let velocity = randomFloats(shape.m * shape.n, using: &rng)
                forEachSupportedArchitecture { path in
                    for t in transposes {
                        problem.stored(transA: t.a, transB: t.b, padding: index % 3).assertSGDMatchesUnfused(
                            param: param, velocity: velocity, steps: takesTheStep(shape, t),
                            "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), alpha \(alpha), "
                                + "path \(path)")
                    }
                }
            }
        }
    }

    /// 1 and 2 threads give the same parameters and buffers, on products that go parallel, of
    /// which some take the step on 2 threads.
    func testThreadCountDoesNotChangeTheBits() {
        var rng = SeededGenerator(seed: 42)
        var stepsOnTwoThreads = false
        for shape in [(m: 300, n: 200, k: 64), (m: 40, n: 700, k: 32)] {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, using: &rng)
            let param = randomFloats(shape.m * shape.n, using: &rng)
            let velocity = randomFloats(shape.m * shape.n, using: &rng)
            for t in transposes {
                let stored = problem.stored(transA: t.a, transB: t.b)
                forEachSupportedArchitecture { path in
                    let what = "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), path \(path)"
                    stepsOnTwoThreads = stepsOnTwoThreads || withThreads(2) { takesTheStep(shape, t) }
                    assertSameResultForThreadCounts([1, 2], what) {
                        var updated = stored.runSGD(sgdSteps[1], param: param, velocity: velocity)
                        updated.finish(sgdSteps[1])
                        return updated.param + updated.velocity
                    }
                }
            }
        }
        XCTAssert(stepsOnTwoThreads)
    }

    /// Plain SGD (momentum 0) needs no momentum buffer: with none, the parameters of the call
    /// with one, which leaves it as it was, on every table, on products that take the step
    /// and one that does not.
    func testPlainSGDTakesNoBuffer() {
        var rng = SeededGenerator(seed: 44)
        let plain = sgdSteps[0]
        XCTAssertEqual(plain.momentum, 0)
        var someStepped = false
        for shape in [(m: 257, n: 257, k: 200), (m: 24, n: 1500, k: 200), (m: 13, n: 37, k: 1100)] {
            let stored = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, using: &rng)
                .stored(transA: true, transB: false)
            let param = randomFloats(shape.m * shape.n, using: &rng)
            let velocity = randomFloats(shape.m * shape.n, using: &rng)
            forEachSupportedArchitecture { path in
                let what = "m \(shape.m) n \(shape.n) k \(shape.k), path \(path)"
                var withBuffer = stored.runSGD(plain, param: param, velocity: velocity)
                var withoutBuffer = stored.runSGD(plain, param: param, velocity: [])
                XCTAssertEqual(withBuffer.stepped, takesTheStep(shape, (a: true, b: false)), what)
                XCTAssertEqual(withoutBuffer.stepped, withBuffer.stepped, what)
                someStepped = someStepped || withBuffer.stepped
                withBuffer.finish(plain)
                withoutBuffer.finish(plain)
                assertBitwiseEqual(withBuffer.velocity, velocity, "the buffer, " + what)
                assertBitwiseEqual(withoutBuffer.param, withBuffer.param, "param, " + what)
            }
        }
        XCTAssert(someStepped)
    }

    /// k == 0 or alpha == 0: no packed route; the gradient, zero, is stored.
    func testZeroProductStoresAZeroGradient() {
        var rng = SeededGenerator(seed: 43)
        let (m, n) = (9, 40)
        let param = randomFloats(m * n, using: &rng)
        let velocity = randomFloats(m * n, using: &rng)
        for (alpha, k) in [(Float(0), 5), (1, 0)] {
            let problem = GEMMProblem.random(m: m, n: n, k: max(k, 1), alpha: alpha, using: &rng)
            let stored = StoredGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, beta: 0,
                                    a: problem.a, b: problem.b, c: problem.c)
            let updated = stored.runSGD(sgdSteps[2], param: param, velocity: velocity)
            XCTAssertFalse(updated.stepped)
            assertBitwiseEqual(updated.grad, [Float](repeating: 0, count: m * n), "gradient, alpha \(alpha) k \(k)")
            assertBitwiseEqual(updated.param, param, "param, alpha \(alpha) k \(k)")
        }
    }
}
