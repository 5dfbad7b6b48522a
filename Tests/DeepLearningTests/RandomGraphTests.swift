import XCTest
@testable import DeepLearning

/// Randomly composed graphs against finite differences (`gradientCheck`). Each program is a
/// list of up to 12 operations drawn from a seed; each takes earlier results, so that results
/// are shared and gradients meet again (diamonds, a tensor used twice in one operation), and
/// mixes element-wise functions, broadcasting, matrix products (plain and transposed), views
/// (rows, reshapes), copies (transposes, gathered rows, concatenation), reductions broadcast
/// back and softmax. Every operation is scaled so that values stay within about ±2 and the
/// graph is smooth (no `relu`, `abs` or `max`), so that the finite differences estimate the
/// gradient well and a disagreement is the engine's.
final class RandomGraphTests: XCTestCase {
    /// One operation: what it computes and the two earlier results it reads, as numbers
    /// reduced modulo the count of results so far.
    private struct Operation {
        let kind: Int
        let first: Int, second: Int
        /// A row count or a row index, reduced modulo what the operation needs.
        let split: Int
    }

    /// The number of kinds of operation `apply` knows.
    private static let kinds = 25

    func testRandomProgramsMatchFiniteDifferences() throws {
        for seed in 0..<1000 as Range<UInt64> {
            var generator = SeededGenerator(seed: seed)
            let rows = Int.random(in: 1...4, using: &generator)
            let columns = Int.random(in: 1...4, using: &generator)
            // Two [rows, columns] leaves start the results; the others are read by operations:
            // a bias broadcast along rows, a scale along columns, two square weights.
            let leaves = [[rows, columns], [rows, columns], [columns], [rows, 1], [columns, columns],
                          [rows, rows]].map { differentiableTensor($0, using: &generator) }
            let program = (0..<Int.random(in: 1...12, using: &generator)).map { _ in
                Operation(kind: Int.random(in: 0..<Self.kinds, using: &generator),
                          first: Int.random(in: 0..<64, using: &generator),
                          second: Int.random(in: 0..<64, using: &generator),
                          split: Int.random(in: 0..<64, using: &generator))
            }
            do {
                try gradientCheck(at: leaves, seed: seed) { x in
                    var results = [x[0], x[1]]
                    for operation in program {
                        results.append(Self.apply(operation, to: results, leaves: x))
                    }
                    return results.last!
                }
            } catch {
                XCTFail("seed \(seed), \(rows)×\(columns), kinds \(program.map(\.kind)): \(error)")
            }
        }
    }

    /// The result of `operation` on the earlier `results` (each `[rows, columns]`, values within
    /// about ±2), with the `leaves` for its broadcast operands and weights: `[rows, columns]`,
    /// within about ±2.
    private static func apply(_ operation: Operation, to results: [Tensor], leaves: [Tensor])
        -> Tensor
    {
        let a = results[operation.first % results.count]
        let b = results[operation.second % results.count]
        let (bias, scale, square, rowMixer) = (leaves[2], leaves[3], leaves[4], leaves[5])
        let (rows, columns) = (a.shape[0], a.shape[1])
        let (r, c) = (Float(rows), Float(columns))
        switch operation.kind {
        case 0: return (a + b) * 0.5
        case 1: return (a - b * 0.5) * 0.5
        case 2: return a * b * 0.5
        case 3: return a / (b * b + 1)
        case 4: return (a + bias) * 0.5
        case 5: return a * scale
        case 6: return tanh(a) + sin(b)
        case 7: return cos(a) * (sigmoid(b) * 2 - 1)
        case 8: return exp(tanh(a)) * 0.7
        case 9: return gelu(a)
        case 10: return matmul(a, square) * (1 / c)
        case 11: return matmul(rowMixer, a) * (1 / r)
        case 12: return matmul(a, square, transposingB: true) * (1 / c)
        case 13: return matmul(rowMixer, b, transposingA: true) * (1 / r)
        case 14: return matmul(matmul(a, b, transposingB: true), a) * (1 / (4 * r * c))
        case 15: return (a.transposed() * b.reshaped([columns, rows])).transposed() * 0.5
        case 16: return (a.reshaped([columns, rows]) * b.reshaped([rows * columns]).reshaped([columns, rows]))
            .reshaped([rows, columns]) * 0.5
        case 17:
            let split = operation.split % (rows + 1)
            return concatenate([a.rows(0..<split), b.rows(split..<rows)], alongAxis: 0)
        case 18:
            let joined = concatenate([a, b], alongAxis: 0)
            return (joined.rows(rows..<2 * rows) - joined.rows(0..<rows)) * 0.5
        case 19: return (a - a.mean(alongAxis: 1, keepingAxis: true)) * 0.5
        case 20: return a * b.sum(alongAxis: 0, keepingAxis: true) * (1 / (2 * r))
        case 21: return softmax(a) + logSoftmax(b) * 0.3
        case 22:
            let indices = (0..<rows).map { (operation.split + 3 * $0 * $0) % rows }
            return a.gatheringRows(indices) * (sqrt(b * b + 1) * 0.8)
        case 23: return matmul(a, matmul(b.transposed(), a)) * (1 / (4 * r * c))
        default: return (pow(b * b + 1, 0.5) * a + a.mean()) * 0.3
        }
    }
}
