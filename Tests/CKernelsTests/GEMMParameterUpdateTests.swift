// ck_sgemm_sgd, ck_sgemm_adam and ck_sgemm_rmsprop against their contract: where they take the
// step (return 1), the parameters and optimizer buffers of ck_sgemm (beta 0) into the gradient,
// then ck_sgd, ck_adam or ck_rmsprop; elsewhere (0) that ck_sgemm alone, the parameters and
// buffers untouched. On every route, path, transpose and thread count, for every kind of step,
// maximize and amsgrad included.
import CKernels
import DeepLearning
import Foundation
import XCTest

/// One optimizer step of a parameter matrix, with the settings ck_sgd, ck_adam or ck_rmsprop
/// takes.
private enum ParameterStep {
    case sgd(lr: Float, momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool, maximize: Bool,
             firstStep: Bool)
    /// Adam (AdamW when decoupled) at step t.
    case adam(lr: Float, weightDecay: Float, decoupled: Bool, amsgrad: Bool, maximize: Bool, t: Int)
    case rmsProp(lr: Float, weightDecay: Float, momentum: Float, centered: Bool, maximize: Bool)

    /// The ranges of the buffers' values before the step, one per buffer: SGD's momentum
    /// buffer (none without momentum: NULL), Adam's two moments and with amsgrad the largest
    /// second moments (those two not negative, the largest ones above the second moments for
    /// some elements, below for others), RMSprop's average of g² (positive), of g when centered (small: the variance estimate
    /// stays positive) and its momentum buffer with momentum.
    private var bufferRanges: [ClosedRange<Float>] {
        switch self {
        case let .sgd(_, momentum, _, _, _, _, _): momentum > 0 ? [-1...1] : []
        case let .adam(_, _, _, amsgrad, _, _): [-1...1, 0...1] + (amsgrad ? [0...1] : [])
        case let .rmsProp(_, _, momentum, centered, _):
            [0.5...1] + (centered ? [-0.1...0.1] : []) + (momentum > 0 ? [-1...1] : [])
        }
    }

    var bufferCount: Int { bufferRanges.count }

    /// The buffers' values before the step, one array of bufferCount × count.
    func randomBuffers(_ count: Int, using rng: inout SeededGenerator) -> [Float] {
        bufferRanges.flatMap { randomFloats(count, in: $0, using: &rng) }
    }

    /// RMSprop's buffers among `buffers`: the average of g², of g (NULL unless centered), the
    /// momentum buffer (NULL without momentum).
    private func rmsPropBuffers(_ buffers: [UnsafeMutablePointer<Float>?], momentum: Float, centered: Bool)
        -> (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?)
    {
        (buffers[0], centered ? buffers[1] : nil, momentum > 0 ? buffers[centered ? 2 : 1] : nil)
    }

    private static let (beta1, beta2, eps): (Float, Float, Float) = (0.9, 0.99, 1e-3)

    /// Adam's bias corrections at step t, as the Swift optimizer computes them.
    private static func corrections(_ t: Int) -> (Double, Double) {
        (1 - pow(Double(beta1), Double(t)), 1 - pow(Double(beta2), Double(t)))
    }

    /// ck_sgemm_sgd, ck_sgemm_adam or ck_sgemm_rmsprop on `stored` into `grad`; whether it took
    /// the step.
    func fused(_ stored: StoredGEMM, grad: UnsafeMutablePointer<Float>, param: UnsafeMutablePointer<Float>,
               buffers: [UnsafeMutablePointer<Float>?]) -> Bool {
        let (m, n, k) = (Int64(stored.m), Int64(stored.n), Int64(stored.k))
        let (transA, transB): (Int32, Int32) = (stored.transA ? 1 : 0, stored.transB ? 1 : 0)
        return stored.a!.storage.withUnsafeBufferPointer { a in
            stored.b!.storage.withUnsafeBufferPointer { b in
                let (lda, ldb) = (Int64(stored.a!.ld), Int64(stored.b!.ld))
                switch self {
                case let .sgd(lr, momentum, dampening, weightDecay, nesterov, maximize, firstStep):
                    return ck_sgemm_sgd(transA, transB, m, n, k, stored.alpha, a.baseAddress, lda, b.baseAddress, ldb,
                                        grad, param, buffers[0], lr, momentum, dampening, weightDecay,
                                        nesterov ? 1 : 0, maximize ? 1 : 0, firstStep ? 1 : 0) == 1
                case let .adam(lr, weightDecay, decoupled, _, maximize, t):
                    let (c1, c2) = Self.corrections(t)
                    return ck_sgemm_adam(transA, transB, m, n, k, stored.alpha, a.baseAddress, lda, b.baseAddress,
                                         ldb, grad, param, buffers[0], buffers[1], buffers[2], lr, Self.beta1,
                                         Self.beta2, Self.eps, weightDecay, maximize ? 1 : 0, decoupled ? 1 : 0,
                                         c1, c2) == 1
                case let .rmsProp(lr, weightDecay, momentum, centered, maximize):
                    let (square, mean, buffer) = rmsPropBuffers(buffers, momentum: momentum, centered: centered)
                    return ck_sgemm_rmsprop(transA, transB, m, n, k, stored.alpha, a.baseAddress, lda,
                                            b.baseAddress, ldb, grad, param, square, mean, buffer, lr,
                                            Self.beta2, Self.eps, weightDecay, momentum, maximize ? 1 : 0) == 1
                }
            }
        }
    }

    /// ck_sgd, ck_adam or ck_rmsprop on `count` elements.
    func vector(_ count: Int, param: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
                buffers: [UnsafeMutablePointer<Float>?]) {
        switch self {
        case let .sgd(lr, momentum, dampening, weightDecay, nesterov, maximize, firstStep):
            ck_sgd(Int64(count), param, grad, buffers[0], lr, momentum, dampening, weightDecay, nesterov ? 1 : 0,
                   maximize ? 1 : 0, firstStep ? 1 : 0)
        case let .adam(lr, weightDecay, decoupled, _, maximize, t):
            let (c1, c2) = Self.corrections(t)
            ck_adam(Int64(count), param, grad, buffers[0], buffers[1], buffers[2], lr, Self.beta1, Self.beta2,
                    Self.eps, weightDecay, maximize ? 1 : 0, decoupled ? 1 : 0, c1, c2)
        case let .rmsProp(lr, weightDecay, momentum, centered, maximize):
            let (square, mean, buffer) = rmsPropBuffers(buffers, momentum: momentum, centered: centered)
            ck_rmsprop(Int64(count), param, grad, square, mean, buffer, lr, Self.beta2, Self.eps, weightDecay,
                       momentum, maximize ? 1 : 0)
        }
    }
}

/// Plain SGD; momentum with dampening and weight decay after the first step; Nesterov; the
/// first step with momentum (the buffer is then written, not read); Adam's first step, Adam
/// with L2 weight decay at step 3, AdamW at step 2; plain RMSprop, and centered with momentum
/// and weight decay (alpha 0.99, eps 1e-3); then with maximize: plain SGD, with momentum,
/// dampening and weight decay, Nesterov, Adam with amsgrad at step 3, AdamW, centered
/// RMSprop with momentum and weight decay; and AdamW with amsgrad.
private let parameterSteps: [ParameterStep] = [
    .sgd(lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, firstStep: false),
    .sgd(lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3, nesterov: false, maximize: false,
         firstStep: false),
    .sgd(lr: 0.01, momentum: 0.8, dampening: 0, weightDecay: 0.02, nesterov: true, maximize: false,
         firstStep: false),
    .sgd(lr: 0.2, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, firstStep: true),
    .adam(lr: 0.01, weightDecay: 0, decoupled: false, amsgrad: false, maximize: false, t: 1),
    .adam(lr: 0.01, weightDecay: 0.1, decoupled: false, amsgrad: false, maximize: false, t: 3),
    .adam(lr: 0.01, weightDecay: 0.1, decoupled: true, amsgrad: false, maximize: false, t: 2),
    .rmsProp(lr: 0.01, weightDecay: 0, momentum: 0, centered: false, maximize: false),
    .rmsProp(lr: 0.01, weightDecay: 0.05, momentum: 0.9, centered: true, maximize: false),
    .sgd(lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: true, firstStep: false),
    .sgd(lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3, nesterov: false, maximize: true,
         firstStep: false),
    .sgd(lr: 0.01, momentum: 0.8, dampening: 0, weightDecay: 0.02, nesterov: true, maximize: true,
         firstStep: false),
    .adam(lr: 0.01, weightDecay: 0.1, decoupled: false, amsgrad: true, maximize: true, t: 3),
    .adam(lr: 0.01, weightDecay: 0.1, decoupled: true, amsgrad: false, maximize: true, t: 2),
    .rmsProp(lr: 0.01, weightDecay: 0.05, momentum: 0.9, centered: true, maximize: true),
    .adam(lr: 0.01, weightDecay: 0.1, decoupled: true, amsgrad: true, maximize: false, t: 2),
]

/// Parameters and optimizer buffers (m x n, dense; the buffers one after another) after one
/// update, whether the product took it, and the gradient buffer.
private struct Updated {
    var param: [Float], buffers: [Float]
    var stepped = false
    var grad: [Float] = []

    /// Runs `body` with the parameters and a pointer to each buffer (NULL for none).
    mutating func withPointers<R>(
        _ step: ParameterStep, _ body: (UnsafeMutablePointer<Float>, [UnsafeMutablePointer<Float>?]) -> R
    ) -> R {
        let count = param.count
        return param.withUnsafeMutableBufferPointer { p in
            buffers.withUnsafeMutableBufferPointer { b in
                let pointers = (0..<3).map { $0 < step.bufferCount ? b.baseAddress! + $0 * count : nil }
                return body(p.baseAddress!, pointers)
            }
        }
    }

    /// The step with the stored gradient, where the product did not take it: the caller's.
    mutating func finish(_ step: ParameterStep) {
        guard !stepped else { return }
        let grad = grad
        withPointers(step) { param, buffers in step.vector(grad.count, param: param, grad: grad, buffers: buffers) }
    }
}

extension StoredGEMM {
    /// The fused call from `param` and `buffers`; the gradient buffer starts as NaN.
    fileprivate func runFused(_ step: ParameterStep, param: [Float], buffers: [Float]) -> Updated {
        var updated = Updated(param: param, buffers: buffers)
        var grad = [Float](repeating: .nan, count: m * n)
        updated.stepped = updated.withPointers(step) { param, buffers in
            step.fused(self, grad: &grad, param: param, buffers: buffers)
        }
        updated.grad = grad
        return updated
    }

    /// The unfused sequence: ck_sgemm with beta 0 into a dense gradient, then ck_sgd or ck_adam.
    fileprivate func runUnfused(_ step: ParameterStep, param: [Float], buffers: [Float]) -> Updated {
        var updated = Updated(param: param, buffers: buffers)
        let dense = StoredGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: 0,
                               a: a, b: b, c: Matrix(rows: m, cols: n, values: [Float](repeating: .nan, count: m * n)))
        updated.grad = dense.run().storage
        updated.finish(step)
        return updated
    }

    /// Asserts, for every step kind, that the fused call takes the step exactly when `steps`,
    /// with the unfused sequence's parameters and buffers, bit for bit, and otherwise stores
    /// the unfused sequence's gradient and leaves the parameters and buffers as they were.
    fileprivate func assertFusedMatchesUnfused(
        param: [Float], using rng: inout SeededGenerator, steps: Bool, _ what: String,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        for (index, step) in parameterSteps.enumerated() {
            let buffers = step.randomBuffers(m * n, using: &rng)
            let fused = runFused(step, param: param, buffers: buffers)
            let unfused = runUnfused(step, param: param, buffers: buffers)
            let what = "step kind \(index), " + what
            XCTAssertEqual(fused.stepped, steps, "took the step, " + what, file: file, line: line)
            XCTAssertEqual(ck_sgemm_takes_step(transA ? 1 : 0, transB ? 1 : 0, Int64(m), Int64(n), Int64(k)),
                           fused.stepped ? 1 : 0, "ck_sgemm_takes_step, " + what, file: file, line: line)
            guard fused.stepped else {
                assertBitwiseEqual(fused.grad, unfused.grad, "gradient, " + what, file: file, line: line)
                assertBitwiseEqual(fused.param, param, "param, " + what, file: file, line: line)
                assertBitwiseEqual(fused.buffers, buffers, "buffers, " + what, file: file, line: line)
                continue
            }
            assertBitwiseEqual(fused.param, unfused.param, "param, " + what, file: file, line: line)
            assertBitwiseEqual(fused.buffers, unfused.buffers, "buffers, " + what, file: file, line: line)
        }
    }
}

/// Whether the fused calls take the step for this product on the current table: where
/// ck_sgemm takes a packed route with B~ shared, in one k block (k at most 256, every table's
/// kc or less, here; the shapes have none between 256 and 1024).
private func takesTheStep(_ shape: (m: Int, n: Int, k: Int), _ t: (a: Bool, b: Bool)) -> Bool {
    let route = ck_gemm_route_for(ck_gemm_get_arch(), ck_get_num_threads(), t.a ? 1 : 0, t.b ? 1 : 0,
                                  Int64(shape.m), Int64(shape.n), Int64(shape.k), Int64(shape.n), 1, 0,
                                  CK_GEMM_EPILOGUE_NONE)
    return shape.k <= 256 && [CK_GEMM_ROUTE_PACKED, CK_GEMM_ROUTE_PACKED_ALONG_ROWS].contains(route)
}

final class GEMMParameterUpdateTests: XCTestCase {
    /// The direct routes and the packed ones with own slivers (the update follows the stored
    /// product), the packed routes with B~ shared in one k block (the tiles go along rows, and
    /// each finished row panel updates its parameters) with partial tiles and several column
    /// blocks, and every packed route in several k blocks (k above every table's kc: the
    /// update follows the stored product). On the two-FMA table, 24 × 1500 × 200 on 2 threads
    /// is PACKED laid out for its 8 × 48 tiles, which gives own slivers (the update follows the
    /// stored product), and 48 × 1100 × 250 is PACKED with B~ shared.
    private static let shapes: [(m: Int, n: Int, k: Int)] = [
        (5, 3, 9), (7, 33, 11), (30, 3, 100), (70, 50, 90), (29, 1000, 200), (20, 600, 250),
        (5, 4100, 16), (131, 97, 64), (257, 257, 200), (24, 1500, 200), (48, 1100, 250),
        (8, 2048, 256), (13, 37, 1100),
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
    func testUpdateEqualsGEMMThenOptimizerOnEveryRoute() {
        withThreads(2) {
            var rng = SeededGenerator(seed: 41)
            for (index, shape) in Self.shapes.enumerated() {
                let alpha: Float = index % 2 == 0 ? 1 : -0.5
                let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, alpha: alpha, using: &rng)
                let param = randomFloats(shape.m * shape.n, using: &rng)
                forEachSupportedArchitecture { path in
                    for t in transposes {
                        problem.stored(transA: t.a, transB: t.b, padding: index % 3).assertFusedMatchesUnfused(
                            param: param, using: &rng, steps: takesTheStep(shape, t),
                            "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), alpha \(alpha), "
                                + "path \(path)")
                    }
                }
            }
        }
    }

    /// 1 and 2 threads give the same parameters and buffers, on products that go parallel, of
    /// which some take the step on 2 threads, with SGD's momentum, Adam and centered RMSprop,
    /// each without and with maximize (Adam's with amsgrad too).
    func testThreadCountDoesNotChangeTheBits() {
        var rng = SeededGenerator(seed: 42)
        var stepsOnTwoThreads = false
        for shape in [(m: 300, n: 200, k: 64), (m: 40, n: 700, k: 32)] {
            let problem = GEMMProblem.random(m: shape.m, n: shape.n, k: shape.k, using: &rng)
            let param = randomFloats(shape.m * shape.n, using: &rng)
            for step in [1, 5, 8, 10, 12, 14].map({ parameterSteps[$0] }) {
                let buffers = step.randomBuffers(shape.m * shape.n, using: &rng)
                for t in transposes {
                    let stored = problem.stored(transA: t.a, transB: t.b)
                    forEachSupportedArchitecture { path in
                        let what = "m \(shape.m) n \(shape.n) k \(shape.k), transA \(t.a) transB \(t.b), "
                            + "\(step), path \(path)"
                        stepsOnTwoThreads = stepsOnTwoThreads || withThreads(2) { takesTheStep(shape, t) }
                        assertSameResultForThreadCounts([1, 2], what) {
                            var updated = stored.runFused(step, param: param, buffers: buffers)
                            updated.finish(step)
                            return updated.param + updated.buffers
                        }
                    }
                }
            }
        }
        XCTAssert(stepsOnTwoThreads)
    }

    /// k == 0 or alpha == 0: no packed route; the gradient, zero, is stored.
    func testZeroProductStoresAZeroGradient() {
        var rng = SeededGenerator(seed: 43)
        let (m, n) = (9, 40)
        let param = randomFloats(m * n, using: &rng)
        for step in [parameterSteps[2], parameterSteps[6], parameterSteps[8]] {
            let buffers = step.randomBuffers(m * n, using: &rng)
            for (alpha, k) in [(Float(0), 5), (1, 0)] {
                let problem = GEMMProblem.random(m: m, n: n, k: max(k, 1), alpha: alpha, using: &rng)
                let stored = StoredGEMM(transA: false, transB: false, m: m, n: n, k: k, alpha: alpha, beta: 0,
                                        a: problem.a, b: problem.b, c: problem.c)
                let updated = stored.runFused(step, param: param, buffers: buffers)
                let what = "alpha \(alpha) k \(k), \(step)"
                XCTAssertFalse(updated.stepped, what)
                assertBitwiseEqual(updated.grad, [Float](repeating: 0, count: m * n), "gradient, " + what)
                assertBitwiseEqual(updated.param, param, "param, " + what)
                assertBitwiseEqual(updated.buffers, buffers, "buffers, " + what)
            }
        }
    }
}
