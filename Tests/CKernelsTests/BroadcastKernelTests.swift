// The broadcasting kernels of the graph (ck_binary, ck_binary_gradient, ck_sum_to) against
// plain Swift references that walk every output index, on random and awkward shapes, with
// and without accumulation, and bitwise on 1 and 2 threads.
import CKernels
import DeepLearning
import XCTest

/// The strides at which an operand of shape `operand` is read for each dimension of `shape`
/// (dense, 0 where broadcast).
private func strides(of operand: [Int], in shape: [Int]) -> [Int64] {
    let offset = shape.count - operand.count
    var result = [Int64](repeating: 0, count: shape.count), step = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) where d >= offset {
        if operand[d - offset] == 1 && shape[d] != 1 { continue }
        result[d] = Int64(step)
        step *= operand[d - offset]
    }
    return result
}

/// Every multi-index of `shape` in row-major order, as the offsets it has with `strides`.
private func offsets(_ shape: [Int], _ strides: [Int64]) -> [Int] {
    var result = [0]
    for d in shape.indices {
        result = result.flatMap { base in (0..<shape[d]).map { base + $0 * Int(strides[d]) } }
    }
    return result
}

private let operations: [(ck_binary_op, @Sendable (Float, Float) -> Float)] = [
    (CK_BINARY_ADD, { $0 + $1 }), (CK_BINARY_SUBTRACT, { $0 - $1 }),
    (CK_BINARY_MULTIPLY, { $0 * $1 }), (CK_BINARY_DIVIDE, { $0 / $1 }),
]

/// The term each output element contributes to operand `operand`'s gradient, in Double.
private func gradientTerm(_ op: ck_binary_op, operand: Int, dy: Double, a: Double, b: Double) -> Double {
    switch (op, operand) {
    case (CK_BINARY_ADD, _): dy
    case (CK_BINARY_SUBTRACT, 0): dy
    case (CK_BINARY_SUBTRACT, _): -dy
    case (CK_BINARY_MULTIPLY, 0): dy * b
    case (CK_BINARY_MULTIPLY, _): dy * a
    case (CK_BINARY_DIVIDE, 0): dy / b
    default: -dy * a / (b * b)
    }
}

final class BroadcastKernelTests: XCTestCase {
    private let pairs: [([Int], [Int])] = [
        ([1], [1]), ([7], [7]), ([4, 3], [3]), ([3], [4, 3]), ([4, 3], [4, 1]), ([1, 5], [4, 1]),
        ([2, 1, 3], [5, 1]), ([2, 3, 4, 5], [3, 1, 5]), ([], [3, 2]), ([3, 2], []), ([0, 3], [3]),
        ([2, 1, 2, 1, 2, 1, 2, 1], [1, 2, 1, 2, 1, 2, 1, 2]), ([300, 257], [257]), ([300, 257], [300, 1]),
    ]

    private func resultShape(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        return (0..<rank).map { d in
            let x = d < rank - a.count ? 1 : a[d - (rank - a.count)]
            let y = d < rank - b.count ? 1 : b[d - (rank - b.count)]
            return x == 1 ? y : x
        }
    }

    func testBinaryAndItsGradientsMatchTheReference() {
        var rng = SeededGenerator(seed: 31)
        for (aShape, bShape) in pairs {
            let shape = resultShape(aShape, bShape), count = shape.reduce(1, *)
            let a = randomFloats(aShape.reduce(1, *), using: &rng)
            let b = randomFloats(bShape.reduce(1, *), in: 0.5...2, using: &rng)
            let dy = randomFloats(count, using: &rng)
            let (sa, sb) = (strides(of: aShape, in: shape), strides(of: bShape, in: shape))
            let (oa, ob) = (offsets(shape, sa), offsets(shape, sb))
            let shape64 = shape.map(Int64.init), rank = Int32(shape.count)
            for (op, f) in operations {
                let what = "op \(op.rawValue), \(aShape) with \(bShape)"
                var out = [Float](repeating: sentinel, count: count)
                ck_binary(op, rank, shape64, a, sa, b, sb, 0, &out)
                let expected = (0..<count).map { f(a[oa[$0]], b[ob[$0]]) }
                assertBitwiseEqual(out, expected, what)
                var accumulated = expected
                ck_binary(op, rank, shape64, a, sa, b, sb, 1, &accumulated)
                assertBitwiseEqual(accumulated, zip(expected, expected).map { $0 + $1 }, what + " accumulated")
                for (operand, operandOffsets, size) in [(0, oa, a.count), (1, ob, b.count)] {
                    var reference = [Double](repeating: 0, count: size)
                    var magnitude = [Double](repeating: 0, count: size)
                    for i in 0..<count {
                        let t = gradientTerm(op, operand: operand, dy: Double(dy[i]), a: Double(a[oa[i]]),
                                             b: Double(b[ob[i]]))
                        reference[operandOffsets[i]] += t
                        magnitude[operandOffsets[i]] += Swift.abs(t)
                    }
                    let tolerance = magnitude.map { 4 * Double(count + 2) * Double(Float.ulpOfOne) * $0 }
                    var dx = [Float](repeating: count == 0 ? 0 : sentinel, count: size)
                    ck_binary_gradient(op, Int32(operand), rank, shape64, dy, a, sa, b, sb, 0, &dx)
                    assertClose(dx, reference, tolerance: tolerance, what + " gradient of operand \(operand)")
                    var plusOne = [Float](repeating: 1, count: size)
                    ck_binary_gradient(op, Int32(operand), rank, shape64, dy, a, sa, b, sb, 1, &plusOne)
                    assertClose(plusOne, reference.map { $0 + 1 }, tolerance: tolerance.map { $0 + 1e-6 },
                                what + " accumulated gradient of operand \(operand)")
                }
            }
        }
    }

    func testSumToMatchesTheReference() {
        var rng = SeededGenerator(seed: 32)
        for (shape, kept) in [([5, 7], [5, 1]), ([5, 7], [1, 7]), ([2, 3, 4], [1, 3, 1]), ([2, 3, 4], [1, 1, 1]),
                              ([3, 4, 5], [3, 1, 5]), ([400, 300], [1, 300]), ([300, 400], [300, 1])] {
            let count = shape.reduce(1, *)
            let x = randomFloats(count, using: &rng)
            let ys = strides(of: kept, in: shape), ox = offsets(shape, ys)
            var reference = [Double](repeating: 0, count: kept.reduce(1, *)), magnitude = reference
            for i in 0..<count {
                reference[ox[i]] += 0.5 * Double(x[i])
                magnitude[ox[i]] += Swift.abs(Double(x[i]))
            }
            var y = [Float](repeating: sentinel, count: reference.count)
            ck_sum_to(Int32(shape.count), shape.map(Int64.init), x, ys, 0.5, 0, &y)
            assertClose(y, reference, tolerance: magnitude.map { Double(count) * 1e-7 * $0 + 1e-7 },
                        "sum of \(shape) to \(kept)")
        }
    }

    /// Each kernel splits a dimension along which its target does not sum: the same bits on 1
    /// and 2 threads, for every broadcast pattern.
    func testResultsAreIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 33)
        for (aShape, bShape) in [([300, 257], [257]), ([300, 257], [300, 1]), ([257], [300, 257]),
                                 ([4, 100, 200], [100, 1]), ([80_000], [80_000])] {
            let shape = resultShape(aShape, bShape).map(Int64.init)
            let count = Int(shape.reduce(1, *))
            let a = randomFloats(aShape.reduce(1, *), using: &rng)
            let b = randomFloats(bShape.reduce(1, *), in: 0.5...2, using: &rng)
            let dy = randomFloats(count, using: &rng)
            let full = shape.map(Int.init)
            let (sa, sb) = (strides(of: aShape, in: full), strides(of: bShape, in: full))
            for (op, _) in operations {
                assertSameResultForThreadCounts { () -> [Float] in
                    var out = [Float](repeating: 0, count: count)
                    ck_binary(op, Int32(shape.count), shape, a, sa, b, sb, 0, &out)
                    var da = [Float](repeating: 1, count: a.count), db = [Float](repeating: 0, count: b.count)
                    ck_binary_gradient(op, 0, Int32(shape.count), shape, dy, a, sa, b, sb, 1, &da)
                    ck_binary_gradient(op, 1, Int32(shape.count), shape, dy, a, sa, b, sb, 0, &db)
                    return out + da + db
                }
            }
        }
    }

    /// A rank the kernels' arrays cannot hold (above CK_MAX_RANK, or negative): nothing is
    /// read or written.
    func testRanksOutsideTheLimitDoNothing() {
        let shape: [Int64] = [1, 1, 1, 1, 1, 1, 1, 1, 4], strides: [Int64] = [0, 0, 0, 0, 0, 0, 0, 0, 1]
        let x: [Float] = [1, 2, 3, 4]
        for rank in [Int32(CK_MAX_RANK) + 1, -1] {
            var out = [Float](repeating: sentinel, count: 4)
            ck_binary(CK_BINARY_ADD, rank, shape, x, strides, x, strides, 0, &out)
            ck_binary_gradient(CK_BINARY_MULTIPLY, 0, rank, shape, x, x, strides, x, strides, 0, &out)
            ck_sum_to(rank, shape, x, strides, 1, 0, &out)
            assertBitwiseEqual(out, [Float](repeating: sentinel, count: 4), "rank \(rank)")
        }
    }
}
