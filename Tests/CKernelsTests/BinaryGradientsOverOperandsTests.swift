// ck_binary_gradients writing an operand's gradient over the operand itself (da = a, db = b),
// as the graph does with a saved input that nothing else holds: the bits of the same call
// into arrays of their own for every number, NaN where that gives NaN (a NaN's sign and
// payload are no result's: the compiler may negate or order operands otherwise when the output
// is an input), and the values of the scalar terms, for * and / (from a and b, and from the
// quotient), with and without a's gradient and accumulation, zeros, infinities and NaN among
// the inputs, on tiny, awkward and parallel sizes, on 1 and 2 threads.
import CKernels
import DeepLearning
import XCTest

final class BinaryGradientsOverOperandsTests: XCTestCase {
    private let special: [Float] = [0, -0, .infinity, -.infinity, .nan,
                                    .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-30]

    /// Which operands the call overwrites with their gradients; `bOnly`: b's gradient alone
    /// (da NULL), over b.
    private enum Overwritten: CaseIterable { case a, b, both, bOnly }

    func testGradientsOverTheirOperandsHaveTheBitsOfSeparateArraysExceptNaNs() {
        var rng = SeededGenerator(seed: 61)
        for n in [1, 2, 15, 17, 70_001] {
            let filler = max(n - special.count, 0)
            let a = Array(special.prefix(n)) + randomFloats(filler, in: -2...2, using: &rng)
            let b = Array(special.reversed().prefix(n)) + randomFloats(filler, in: 0.5...2, using: &rng)
            let dy = randomFloats(n, using: &rng)
            let start = (randomFloats(n, using: &rng), randomFloats(n, using: &rng))
            for (op, quotient) in [(CK_BINARY_MULTIPLY, false), (CK_BINARY_DIVIDE, false),
                                   (CK_BINARY_DIVIDE, true)] {
                let q: [Float]? = quotient ? zip(a, b).map { $0 / $1 } : nil
                for overwritten in Overwritten.allCases {
                    // Each flag both ways on the parallel size (a slow one in debug builds).
                    let accumulations: [(Int32, Int32)] = n < 100 ? [(0, 0), (1, 0), (0, 1), (1, 1)]
                        : [(1, 0), (0, 1)]
                    for accumulate in accumulations {
                        let what = "op \(op.rawValue) quotient \(quotient) n \(n) \(overwritten) accumulate \(accumulate)"
                        check(op, dy, a, b, q, start, overwritten, accumulate, what)
                    }
                }
            }
        }
    }

    /// One call over the operands against the same call into arrays of their own (the same
    /// bits, or NaN for NaN), and against the scalar terms.
    private func check(_ op: ck_binary_op, _ dy: [Float], _ a: [Float], _ b: [Float],
                       _ q: [Float]?, _ start: ([Float], [Float]), _ overwritten: Overwritten,
                       _ accumulate: (a: Int32, b: Int32), _ what: String) {
        let n = dy.count
        let overA = overwritten == .a || overwritten == .both
        let overB = overwritten != .a
        let daOnly = overwritten != .bOnly
        // The gradients' first values: the operands' where they are overwritten.
        let daStart = overA ? a : start.0, dbStart = overB ? b : start.1
        var separateA = daStart, separateB = dbStart
        if daOnly {
            ck_binary_gradients(op, Int64(n), dy, a, b, q, accumulate.a, &separateA,
                                accumulate.b, &separateB)
        } else {
            ck_binary_gradients(op, Int64(n), dy, a, b, q, 0, nil, accumulate.b, &separateB)
        }
        let over = assertSameResultForThreadCounts([1, 2], what) { () -> [Float] in
            var (operandA, operandB) = (a, b)
            var (da, db) = (start.0, start.1)
            operandA.withUnsafeMutableBufferPointer { aValues in
                operandB.withUnsafeMutableBufferPointer { bValues in
                    da.withUnsafeMutableBufferPointer { daValues in
                        db.withUnsafeMutableBufferPointer { dbValues in
                            let daTarget = (overA ? aValues : daValues).baseAddress!
                            let dbTarget = (overB ? bValues : dbValues).baseAddress!
                            ck_binary_gradients(op, Int64(n), dy, aValues.baseAddress!,
                                                bValues.baseAddress!, q, accumulate.a,
                                                daOnly ? daTarget : nil, accumulate.b, dbTarget)
                        }
                    }
                }
            }
            let gradients = (daOnly ? (overA ? operandA : da) : []) + (overB ? operandB : db)
            return withCanonicalNaNs(gradients)
        }
        assertBitwiseEqual(over, withCanonicalNaNs((daOnly ? separateA : []) + separateB), what)
        // The scalar terms: b's gradient, then a's (ck_binary_gradient's).
        var expected: [Float] = []
        if daOnly {
            expected += (0..<n).map { i in
                let term = op == CK_BINARY_MULTIPLY ? dy[i] * b[i] : dy[i] / b[i]
                return accumulate.a == 1 ? daStart[i] + term : term
            }
        }
        expected += (0..<n).map { i in
            let term = op == CK_BINARY_MULTIPLY ? dy[i] * a[i] : -((dy[i] / b[i]) * (a[i] / b[i]))
            return accumulate.b == 1 ? dbStart[i] + term : term
        }
        assertEqualValues(over, expected, what)
    }
}
