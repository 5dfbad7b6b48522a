import CKernels
import Foundation
import XCTest
@testable import DeepLearning

/// Every element-wise operation's gradient against finite differences (`gradientCheck`):
/// equal shapes, scalars on either side, broadcast shapes, and every unary function.
final class ElementwiseOperationTests: XCTestCase {
    private var generator = SeededGenerator(seed: 5)

    private func input(_ shape: [Int], _ range: Range<Float> = -1..<1) -> Tensor {
        differentiableTensor(shape, in: range, using: &generator)
    }

    func testBinaryOperationsOnEqualShapes() throws {
        for shape in [[], [1], [7], [3, 4], [2, 3, 5]] {
            try gradientCheck(at: [input(shape), input(shape)]) { $0[0] + $0[1] }
            try gradientCheck(at: [input(shape), input(shape)]) { $0[0] - $0[1] }
            try gradientCheck(at: [input(shape), input(shape)]) { $0[0] * $0[1] }
            try gradientCheck(at: [input(shape), input(shape, 0.5..<2)]) { $0[0] / $0[1] }
        }
    }

    func testValuesOfBinaryOperations() {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4]), b = Tensor(shape: [2], values: [10, 20])
        XCTAssertEqual((a + b).values, [11, 22, 13, 24])
        XCTAssertEqual((a - b).values, [-9, -18, -7, -16])
        XCTAssertEqual((a * Tensor(shape: [2, 1], values: [2, 3])).values, [2, 4, 9, 12])
        XCTAssertEqual((a / 2).values, [0.5, 1, 1.5, 2])
        XCTAssertEqual((1 - a).values, [0, -1, -2, -3])
        XCTAssertEqual((12 / a).values, [12, 6, 4, 3])
        XCTAssertEqual((-a).values, [-1, -2, -3, -4])
    }

    /// The divisor's gradient −dy · a / b² where b² alone would overflow or underflow but the
    /// gradient does not: PyTorch's values (`(a / b).backward(dy)` with these a and b), computed
    /// as −((dy / b) · (a / b)). Also broadcast (b summed over rows).
    func testQuotientGradientsOfLargeAndSmallDivisors() {
        let a = Tensor(shape: [2, 2], values: [1e-30, 1e30, 1e-30, 1e30], requiresGradient: true)
        let b = Tensor(shape: [2], values: [1e-25, 1e20], requiresGradient: true)
        (a / b).backward(Tensor(shape: [2, 2], values: [1, 1, 1, 1]))
        XCTAssertEqual(a.gradients, [1e25, 1e-20, 1e25, 1e-20])
        for (gradient, expected) in zip(b.gradients, [-2e20, -2e-10]) {
            XCTAssertEqual(Double(gradient), expected, accuracy: 1e-6 * abs(expected))
        }
    }

    func testScalarsOnEitherSide() throws {
        let x = input([3, 2], 0.5..<2)
        try gradientCheck(at: [x]) { $0[0] + 2 }
        try gradientCheck(at: [x]) { 2 + $0[0] }
        try gradientCheck(at: [x]) { $0[0] - 2 }
        try gradientCheck(at: [x]) { 2 - $0[0] }
        try gradientCheck(at: [x]) { $0[0] * 3 }
        try gradientCheck(at: [x]) { 3 * $0[0] }
        try gradientCheck(at: [x]) { $0[0] / 3 }
        try gradientCheck(at: [x]) { 3 / $0[0] }
        // A scalar tensor that requires a gradient, broadcast against a matrix.
        try gradientCheck(at: [input([]), x]) { $0[0] * $0[1] + $0[0] }
    }

    func testBroadcastShapes() throws {
        let pairs: [([Int], [Int])] = [
            ([4, 3], [3]), ([3], [4, 3]), ([4, 3], [4, 1]), ([4, 1], [4, 3]), ([2, 1, 3], [5, 1]),
            ([2, 4, 3], [4, 3]), ([2, 4, 3], [2, 1, 3]), ([1, 3], [4, 1]), ([2, 3, 4, 5], [3, 1, 5]),
        ]
        for (a, b) in pairs {
            try gradientCheck(at: [input(a), input(b)]) { $0[0] + $0[1] }
            try gradientCheck(at: [input(a), input(b)]) { $0[0] - $0[1] }
            try gradientCheck(at: [input(a), input(b)]) { $0[0] * $0[1] }
            try gradientCheck(at: [input(a), input(b, 0.5..<2)]) { $0[0] / $0[1] }
        }
        let result = Tensor(shape: [2, 1, 3]) + Tensor(shape: [5, 1])
        XCTAssertEqual(result.shape, [2, 5, 3])
    }

    /// Equal shapes are one dimension of all the elements to the kernels, at any rank.
    func testEqualShapesAboveTheLargestBroadcastRank() throws {
        let shape = [1, 1, 1, 1, 1, 1, 1, 2, 3]
        try gradientCheck(at: [input(shape), input(shape, 0.5..<2)]) { $0[0] * $0[1] + $0[0] / $0[1] }
        let x = Tensor(shape: shape, values: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual((x + x).shape, shape)
        XCTAssertEqual((x + x).values, [2, 4, 6, 8, 10, 12])
    }

    private let rankNine = [1, 1, 1, 1, 1, 1, 1, 1, 4]

    func testScalarBroadcastAboveTheLargestRankStops() throws {
        try assertStops(withMessage: "*: shapes \(rankNine) and [] broadcast to rank 9, above the largest supported, 8") {
            _ = Tensor(shape: rankNine) * 2
        }
    }

    func testVectorBroadcastAboveTheLargestRankStops() throws {
        try assertStops(withMessage: "+: shapes \(rankNine) and [4] broadcast to rank 9, above the largest supported, 8") {
            _ = Tensor(shape: rankNine) + Tensor(shape: [4])
        }
    }

    func testUnaryFunctions() throws {
        let x = input([3, 4])
        let positive = input([3, 4], 0.2..<2)
        let awayFromZero = Tensor(shape: [6], values: [-1.5, -0.7, -0.2, 0.3, 0.8, 1.9],
                                  requiresGradient: true)
        try gradientCheck(at: [x]) { -$0[0] }
        try gradientCheck(at: [x]) { exp($0[0]) }
        try gradientCheck(at: [positive]) { log($0[0]) }
        try gradientCheck(at: [positive]) { sqrt($0[0]) }
        try gradientCheck(at: [positive]) { pow($0[0], 2.5) }
        try gradientCheck(at: [x]) { pow($0[0], 3) }
        try gradientCheck(at: [x]) { pow($0[0], 0) }
        try gradientCheck(at: [awayFromZero]) { abs($0[0]) }
        try gradientCheck(at: [x]) { sin($0[0]) }
        try gradientCheck(at: [x]) { cos($0[0]) }
        try gradientCheck(at: [x]) { tanh($0[0]) }
        try gradientCheck(at: [x]) { sigmoid($0[0]) }
        try gradientCheck(at: [awayFromZero]) { relu($0[0]) }
        try gradientCheck(at: [x]) { gelu($0[0] * 3) }
    }

    func testValuesAndKinksOfUnaryFunctions() {
        let x = Tensor(shape: [3], values: [-1, 0, 2], requiresGradient: true)
        XCTAssertEqual(abs(x).values, [1, 0, 2])
        XCTAssertEqual(relu(x).values, [0, 0, 2])
        let g = gelu(x).values
        XCTAssertEqual(g[0], Float(-1 * 0.5 * (1 + erf(-1 / 2.0.squareRoot()))), accuracy: 1e-6)
        XCTAssertEqual(g[2], Float(2 * 0.5 * (1 + erf(2 / 2.0.squareRoot()))), accuracy: 1e-6)
        abs(x).backward(Tensor(shape: [3], values: [1, 1, 1]))
        XCTAssertEqual(x.gradients, [-1, 0, 1]) // 0 at 0, as PyTorch
        x.zeroGradient()
        relu(x).backward(Tensor(shape: [3], values: [1, 1, 1]))
        XCTAssertEqual(x.gradients, [0, 0, 1])
    }

    func testSharedSubexpressionsAndAChainOfFiftyOperations() throws {
        try gradientCheck(at: [input([3, 2]), input([2])]) { x in
            let shared = x[0] * x[1]           // used three times
            return shared * shared + sin(shared) - x[0]
        }
        try gradientCheck(at: [input([4]), input([4])]) { x in
            var y = x[0]
            for step in 0..<50 {
                switch step % 5 {
                case 0: y = y * 0.9 + x[1]
                case 1: y = tanh(y)
                case 2: y = y - x[0] * 0.5
                case 3: y = sin(y) + y
                default: y = y / (x[1] * x[1] + 1)
                }
            }
            return y
        }
    }

    /// `+ - * /` of equal shapes take both gradients in one pass (`ck_binary_gradients`):
    /// the bits of a pass for each, b's gradient first, added to the gradients already there
    /// (a second backward pass) as the passes add; `x * x` (a leaf, and a node's output) gets
    /// dy·x + dy·x. The same bits on 1 and 2 threads, on 65,553 elements: the element-wise
    /// kernels split their work between 2 threads from 65,536 (32,768 a thread,
    /// `CK_PARALLEL_MIN_ELEMENTS`), and 65,553 is no multiple of their 16-element alignment.
    func testBothGradientsInOnePassAddAsOnePassEach() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        let n = 2 * 32_768 + 17
        let values = (0..<3).map { _ in
            (0..<n).map { _ in Float.random(in: 0.5..<2, using: &generator) }
        }
        let dy = Tensor(shape: [n], values: values[2])
        var runs: [[UInt32]] = []
        for threads in [1, 2] {
            Threads.count = threads
            let a = Tensor(shape: [n], values: values[0], requiresGradient: true)
            let b = Tensor(shape: [n], values: values[1], requiresGradient: true)
            let x = Tensor(shape: [n], values: values[0], requiresGradient: true)
            let p = Tensor(shape: [n], values: values[1], requiresGradient: true)
            let c = Tensor(shape: [n], values: values[0], requiresGradient: true)
            let e = Tensor(shape: [n], values: values[1], requiresGradient: true)
            for pass in 1...2 {
                (c + e).backward(dy)
                (c - e).backward(dy)
                (a * b).backward(dy)
                (a / b).backward(dy)
                (x * x).backward(dy)
                let node = p + 0 // a node's output, its gradient passed on to p
                (node * node).backward(dy)
                let (ga, gb, gx, gp) = (a.gradients, b.gradients, x.gradients, p.gradients)
                let (gc, ge) = (c.gradients, e.gradients)
                for i in 0..<n {
                    let (av, bv, d) = (values[0][i], values[1][i], values[2][i])
                    let timesA = d * av, timesB = d * bv, overB = d / bv
                    let quotient = -((d / bv) * (av / bv))
                    let square = timesA + timesA, nodeSquare = timesB + timesB
                    let (da, db, dx, dp): (Float, Float, Float, Float) = pass == 1
                        ? (timesB + overB, timesA + quotient, square, nodeSquare)
                        : (((timesB + overB) + timesB) + overB,
                           ((timesA + quotient) + timesA) + quotient,
                           (square + timesA) + timesA, nodeSquare + nodeSquare)
                    guard ga[i].bitPattern == da.bitPattern, gb[i].bitPattern == db.bitPattern,
                          gx[i].bitPattern == dx.bitPattern, gp[i].bitPattern == dp.bitPattern else {
                        return XCTFail("element \(i), pass \(pass), \(threads) threads: \(ga[i]) \(gb[i]) \(gx[i]) \(gp[i]), expected \(da) \(db) \(dx) \(dp)")
                    }
                    // c + e then c - e: c gets dy twice a pass, e dy then -dy.
                    let (dc, de): (Float, Float) = pass == 1 ? (d + d, d + -d)
                        : (((d + d) + d) + d, ((d + -d) + d) + -d)
                    guard gc[i].bitPattern == dc.bitPattern, ge[i].bitPattern == de.bitPattern else {
                        return XCTFail("element \(i), pass \(pass), \(threads) threads: \(gc[i]) \(ge[i]), expected \(dc) \(de)")
                    }
                }
            }
            runs.append((a.gradients + b.gradients + x.gradients + p.gradients + c.gradients
                         + e.gradients).map(\.bitPattern))
        }
        XCTAssertEqual(runs[0], runs[1])
    }

    /// `a / b` saves its quotient for b's gradient (no second division); written to before the
    /// backward pass, the quotient is computed again from a and b: the same bits either way,
    /// −((dy / b) · (a / b)) and dy / b.
    func testAQuotientWrittenToIsComputedAgainForTheGradients() {
        let n = 100
        let values = (0..<3).map { _ in (0..<n).map { _ in Float.random(in: 0.5..<2, using: &generator) } }
        let dy = Tensor(shape: [n], values: values[2])
        for writes in [false, true] {
            let a = Tensor(shape: [n], values: values[0], requiresGradient: true)
            let b = Tensor(shape: [n], values: values[1], requiresGradient: true)
            let y = a / b
            if writes { y.withUnsafeMutableBufferPointer { $0.update(repeating: 3) } }
            y.backward(dy)
            let expectedA = (0..<n).map { values[2][$0] / values[1][$0] }
            let expectedB = (0..<n).map {
                -((values[2][$0] / values[1][$0]) * (values[0][$0] / values[1][$0]))
            }
            XCTAssertEqual(a.gradients.map(\.bitPattern), expectedA.map(\.bitPattern), "written: \(writes)")
            XCTAssertEqual(b.gradients.map(\.bitPattern), expectedB.map(\.bitPattern), "written: \(writes)")
        }
    }

    /// `a / b` with only b needing a gradient (a a scalar, `2 / b`, a row broadcast over b, or
    /// a tensor of b's shape) takes b's gradient from the saved quotient: the bits of
    /// −((dy / b) · (a / b)), added to the gradient already there (a second backward pass),
    /// also when the quotient was written to (then computed again). The same bits on 1 and 2
    /// threads, on 40,000 elements (a parallel pass).
    func testADivisorAloneTakesItsGradientFromTheQuotient() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        let (rows, columns) = (40, 1000)
        let n = rows * columns
        let values = (0..<3).map { _ in
            (0..<n).map { _ in Float.random(in: 0.5..<2, using: &generator) }
        }
        let dy = Tensor(shape: [rows, columns], values: values[2])
        let numerators: [(String, Tensor, (Int) -> Float)] = [
            ("scalar", Tensor(2), { _ in 2 }),
            ("row", Tensor(shape: [columns], values: Array(values[0].prefix(columns))),
             { values[0][$0 % columns] }),
            ("same shape", Tensor(shape: [rows, columns], values: values[0]), { values[0][$0] }),
        ]
        for (name, a, numerator) in numerators {
            var runs: [[UInt32]] = []
            for threads in [1, 2] {
                Threads.count = threads
                for writes in [false, true] {
                    let b = Tensor(shape: [rows, columns], values: values[1], requiresGradient: true)
                    for _ in 1...2 {
                        let y = a / b
                        if writes { y.withUnsafeMutableBufferPointer { $0.update(repeating: 3) } }
                        y.backward(dy)
                    }
                    let gradients = b.gradients
                    for i in 0..<n {
                        let (av, bv, d) = (numerator(i), values[1][i], values[2][i])
                        let term = -((d / bv) * (av / bv))
                        guard gradients[i].bitPattern == (term + term).bitPattern else {
                            return XCTFail("\(name), element \(i), written: \(writes), \(threads) threads: \(gradients[i]), expected \(term + term)")
                        }
                    }
                    if !writes { runs.append(gradients.map(\.bitPattern)) }
                }
            }
            XCTAssertEqual(runs[0], runs[1], name)
        }
    }

    /// `x + bias` gives the bias the sums of dy's columns in float in row order and x dy, each
    /// added to the gradient already there (a second backward pass). The same bits on 1 and 2
    /// threads (65,536 elements).
    func testABiasAndItsInputTakeTheirGradients() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        let (rows, columns) = (64, 1024)
        let dyValues = (0..<rows * columns).map { _ in Float.random(in: -1..<1, using: &generator) }
        let dy = Tensor(shape: [rows, columns], values: dyValues)
        var sums = [Float](repeating: 0, count: columns)
        for i in 0..<rows {
            for j in 0..<columns { sums[j] += dyValues[i * columns + j] }
        }
        var runs: [[UInt32]] = []
        for threads in [1, 2] {
            Threads.count = threads
            let x = Tensor(shape: [rows, columns], values: dyValues, requiresGradient: true)
            let bias = Tensor(shape: [columns], values: sums, requiresGradient: true)
            (x + bias).backward(dy)
            XCTAssertEqual(x.gradients.map(\.bitPattern), dyValues.map(\.bitPattern))
            XCTAssertEqual(bias.gradients.map(\.bitPattern), sums.map(\.bitPattern))
            (x + bias).backward(dy)
            XCTAssertEqual(x.gradients.map(\.bitPattern), dyValues.map { ($0 + $0).bitPattern })
            var twice = sums
            for i in 0..<rows {
                for j in 0..<columns { twice[j] += dyValues[i * columns + j] }
            }
            XCTAssertEqual(bias.gradients.map(\.bitPattern), twice.map(\.bitPattern))
            runs.append((x.gradients + bias.gradients).map(\.bitPattern))
        }
        XCTAssertEqual(runs[0], runs[1])
    }

    /// relu, sigmoid and tanh on the graph add their gradient to the one already there in
    /// their pass (`ck_activation_backward`): the layers' kernel's terms, then their sum with
    /// the first pass's, bit for bit, on 1 and 2 threads (40,000 elements).
    func testActivationsAddTheLayersGradientsToTheGradient() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        let n = 40_000
        let xValues = (0..<n).map { _ in Float.random(in: -3..<3, using: &generator) }
        let dyValues = (0..<n).map { _ in Float.random(in: -1..<1, using: &generator) }
        let dy = Tensor(shape: [n], values: dyValues)
        let functions: [(ActivationFunction, (Tensor) -> Tensor)] =
            [(.relu, { relu($0) }), (.sigmoid, sigmoid), (.tanh, tanh)]
        for (function, apply) in functions {
            var runs: [[UInt32]] = []
            for threads in [1, 2] {
                Threads.count = threads
                let x = Tensor(shape: [n], values: xValues, requiresGradient: true)
                let y = apply(x)
                var terms = [Float](repeating: 0, count: n)
                ck_activation_backward(function.kernel, Int64(n), y.value, dy.value, 0, &terms)
                y.backward(dy)
                XCTAssertEqual(x.gradients.map(\.bitPattern), terms.map(\.bitPattern), "\(function)")
                apply(x).backward(dy)
                XCTAssertEqual(x.gradients.map(\.bitPattern), terms.map { ($0 + $0).bitPattern },
                               "\(function)")
                runs.append(x.gradients.map(\.bitPattern))
            }
            XCTAssertEqual(runs[0], runs[1], "\(function)")
        }
    }
}
