// ck_binary_gradients against the scalar terms of ck_binary_gradient, bit for bit: every
// operation (/ from a and b and from the quotient), both gradients into two arrays, into one
// (an operand used twice: b's term added first) and b's alone, each accumulate flag both
// ways, on tiny, awkward and parallel sizes, on 1 and 2 threads.
import CKernels
import DeepLearning
import XCTest

final class BinaryGradientsTests: XCTestCase {
    /// Where the gradients go: da and db two arrays, one array, or db alone (da NULL).
    private enum Targets: CaseIterable { case two, same, bOnly }

    func testEveryTargetAndAccumulationGivesTheScalarTerms() {
        var rng = SeededGenerator(seed: 71)
        for n in [1, 2, 15, 17, 70_001] {
            let dy = randomFloats(n, using: &rng), a = randomFloats(n, in: -2...2, using: &rng)
            let b = randomFloats(n, in: 0.5...2, using: &rng)
            let start = (randomFloats(n, using: &rng), randomFloats(n, using: &rng))
            let operations = [(CK_BINARY_ADD, false), (CK_BINARY_SUBTRACT, false),
                              (CK_BINARY_MULTIPLY, false), (CK_BINARY_DIVIDE, false),
                              (CK_BINARY_DIVIDE, true)]
            for (op, quotient) in operations {
                let q: [Float]? = quotient ? zip(a, b).map { $0 / $1 } : nil
                for targets in Targets.allCases {
                    for accumulate in [(Int32(0), Int32(0)), (1, 0), (0, 1), (1, 1)] {
                        let what = "op \(op.rawValue) quotient \(quotient) n \(n) \(targets) "
                            + "accumulate \(accumulate)"
                        let got = assertSameResultForThreadCounts([1, 2], what) { () -> [Float] in
                            var (da, db) = start
                            switch targets {
                            case .two:
                                ck_binary_gradients(op, Int64(n), dy, a, b, q, accumulate.0, &da,
                                                    accumulate.1, &db)
                                return da + db
                            case .same:
                                db.withUnsafeMutableBufferPointer { d in
                                    ck_binary_gradients(op, Int64(n), dy, a, b, q, accumulate.0,
                                                        d.baseAddress, accumulate.1, d.baseAddress)
                                }
                                return db
                            case .bOnly:
                                ck_binary_gradients(op, Int64(n), dy, a, b, q, 0, nil,
                                                    accumulate.1, &db)
                                return db
                            }
                        }
                        let expected = scalarGradients(op, dy, a, b, start, targets, accumulate)
                        assertBitwiseEqual(got, expected, what)
                    }
                }
            }
        }
    }

    /// ck_binary_gradient's terms one element at a time: db (+)= b's term, then da (+)= a's.
    private func scalarGradients(_ op: ck_binary_op, _ dy: [Float], _ a: [Float], _ b: [Float],
                                 _ start: ([Float], [Float]), _ targets: Targets,
                                 _ accumulate: (a: Int32, b: Int32)) -> [Float] {
        let n = dy.count
        func termA(_ i: Int) -> Float {
            switch op {
            case CK_BINARY_MULTIPLY: dy[i] * b[i]
            case CK_BINARY_DIVIDE: dy[i] / b[i]
            default: dy[i]
            }
        }
        func termB(_ i: Int) -> Float {
            switch op {
            case CK_BINARY_ADD: dy[i]
            case CK_BINARY_SUBTRACT: -dy[i]
            case CK_BINARY_MULTIPLY: dy[i] * a[i]
            default: -((dy[i] / b[i]) * (a[i] / b[i]))
            }
        }
        func added(_ accumulate: Int32, _ target: Float, _ term: Float) -> Float {
            accumulate == 1 ? target + term : term
        }
        let db = (0..<n).map { added(accumulate.b, start.1[$0], termB($0)) }
        switch targets {
        case .two: return (0..<n).map { added(accumulate.a, start.0[$0], termA($0)) } + db
        case .same: return (0..<n).map { added(accumulate.a, db[$0], termA($0)) }
        case .bOnly: return db
        }
    }
}
