// ck_max and ck_max_axis with their backward passes, bit for bit against a scan in order:
// the first maximal element (a NaN is the largest, the first NaN), on lengths around the
// kernels' lanes of 32, with ties across lanes and threads' ranges, a NaN in every position,
// zeros of both signs, -inf only, one element, short and long rows and columns.
import CKernels
import DeepLearning
import XCTest

/// The index of the first maximal element of `x` (not empty), as a scan in order finds it.
private func firstMaximum(_ x: [Float]) -> Int {
    var index = 0
    for j in x.indices {
        if x[j].isNaN { return j }
        if x[j] > x[index] { index = j }
    }
    return index
}

/// Whether v is the maximum m (NaN: v is NaN).
private func isMaximum(_ v: Float, _ m: Float) -> Bool { m.isNaN ? v.isNaN : v == m }

/// A quiet NaN with payload `payload`, so that the kernels' results tell which NaN they took.
private func nan(_ payload: UInt32) -> Float { Float(bitPattern: 0x7FC0_0000 | payload) }

final class MaximumKernelTests: XCTestCase {
    /// Lengths around the lanes of 32 and ck_max's blocks of 1024, and one long enough for two
    /// threads.
    private let lengths = [1, 2, 5, 31, 32, 33, 63, 64, 65, 100, 1023, 1024, 1025, 1031, 3001, 70_001]

    /// Data for a maximum over `n` elements: random, ties of the maximum across lanes (at 0,
    /// 31, 32, 33, the middle and the end), -inf only, zeros of both signs as the maximum
    /// (each sign first), and a NaN (then a second one of another payload) in each position
    /// of the first 70 and the last 33 (in a few positions of a long range).
    private func cases(_ n: Int, using rng: inout SeededGenerator) -> [(String, [Float])] {
        var result = [("random", randomFloats(n, using: &rng))]
        var ties = randomFloats(n, using: &rng)
        for j in [0, 31, 32, 33, n / 2, n - 1] where j < n { ties[j] = 2 }
        result.append(("ties", ties))
        // A maximum in the first block, tied in others, then a larger one (which restarts the
        // count) tied in its own block and in later ones; every element equal.
        var overtaken = randomFloats(n, using: &rng)
        for j in [0, 1, 1023, 1024] where j < n { overtaken[j] = 2 }
        for j in [1025, 2047, 2048, n - 1] where j < n && n > 1 { overtaken[j] = 3 }
        result.append(("overtaken", overtaken))
        result.append(("equal", [Float](repeating: 1.5, count: n)))
        result.append(("-inf", [Float](repeating: -.infinity, count: n)))
        for (first, second) in [(Float(-0.0), Float(0.0)), (0.0, -0.0)] {
            var zeros = randomFloats(n, in: -2 ... -1, using: &rng)
            zeros[n / 3] = first
            zeros[n - 1 - n / 5] = n - 1 - n / 5 == n / 3 ? first : second
            result.append(("zeros \(first.sign) first", zeros))
        }
        let positions = n > 2000 ? [0, 1, 31, 32, 33, n / 2, n - 1]
            : Set(Array(0..<min(n, 70)) + Array(max(0, n - 33)..<n)).sorted()
        let base = randomFloats(n, using: &rng)
        for p in positions {
            var x = base
            x[p] = nan(UInt32(p + 1))
            if p + 40 < n { x[p + 40] = nan(0xABCD) }
            result.append(("NaN at \(p)", x))
        }
        return result
    }

    func testMaxIsTheFirstMaximalElementAndCountsItsTies() {
        var rng = SeededGenerator(seed: 61)
        for n in lengths {
            for (what, x) in cases(n, using: &rng) {
                let m = x[firstMaximum(x)]
                let expectedTies = x.filter { isMaximum($0, m) }.count
                let share: Float = 0.375
                let dx0 = (0..<n).map { $0 % 3 == 0 ? Float(-0.0) : Float($0 % 7) - 3 }
                let results = assertSameResultForThreadCounts([1, 2], "\(what), n \(n)") { () -> [Float] in
                    var ties: Int64 = -1
                    let maximum = ck_max(Int64(n), x, &ties)
                    XCTAssertEqual(ties, Int64(expectedTies), "ties, \(what), n \(n)")
                    var written = [Float](repeating: sentinel, count: n), added = dx0
                    ck_max_backward(Int64(n), x, maximum, share, 0, &written)
                    ck_max_backward(Int64(n), x, maximum, share, 1, &added)
                    return [maximum] + written + added
                }
                assertBitwiseEqual([results[0]], [m], "maximum, \(what), n \(n)")
                let g = x.map { isMaximum($0, m) ? share : Float(0) }
                assertBitwiseEqual(Array(results[1...n]), g, "gradient, \(what), n \(n)")
                assertBitwiseEqual(Array(results[(n + 1)...]), zip(dx0, g).map { $0 + $1 },
                                   "accumulated gradient, \(what), n \(n)")
            }
        }
    }

    /// ck_max on 1 to 4 threads, whose ranges are split at multiples of 1024 (a thread's
    /// share of the blocks of 1024): the maximum's bits and its ties on each side of every
    /// split and in the last thread's range alone, on lengths around the threshold of two
    /// threads (65_536) and of three, and on short ones (one thread whatever the count).
    func testMaxIsTheSameOnEveryThreadCountWhereTheSplitsFall() {
        var rng = SeededGenerator(seed: 63)
        for n in [1, 2, 17, 65_535, 65_536, 65_537, 70_001, 98_303, 98_305, 200_003] {
            let blocks = (n + 1023) / 1024
            let splits = Set([2, 3, 4].flatMap { parts in
                (1..<parts).map { blocks * $0 / parts * 1024 }.filter { 0 < $0 && $0 < n }
            }).sorted()
            // The positions on each side of every split, and the last element alone.
            let sides = Set(splits.flatMap { [$0 - 1, $0] }).sorted()
            let last = [n - 1]
            var cases = [(String, [Float])]()
            for (what, positions) in [("at the splits", sides), ("last", last)] {
                var ties = randomFloats(n, using: &rng)
                for p in positions { ties[p] = 2 }
                cases.append(("ties \(what)", ties))
                // Zeros of both signs as the maximum, alternating (each sign first).
                for first in [Float(-0.0), 0.0] {
                    var zeros = randomFloats(n, in: -2 ... -1, using: &rng)
                    for (k, p) in positions.enumerated() { zeros[p] = k % 2 == 0 ? first : -first }
                    cases.append(("zeros \(first.sign) first, \(what)", zeros))
                }
                // NaNs of distinct payloads, and -inf elsewhere (a NaN among -inf only).
                for background in [randomFloats(n, using: &rng), [Float](repeating: -.infinity, count: n)] {
                    var nans = background
                    for (k, p) in positions.enumerated() { nans[p] = nan(UInt32(k + 1)) }
                    cases.append(("NaNs \(what) among \(background[0])", nans))
                }
            }
            for (what, x) in cases {
                let m = x[firstMaximum(x)]
                let results = assertSameResultForThreadCounts([1, 2, 3, 4], "\(what), n \(n)") { () -> [Float] in
                    var ties: Int64 = -1
                    let maximum = ck_max(Int64(n), x, &ties)
                    return [maximum, Float(ties)]
                }
                assertBitwiseEqual(results, [m, Float(x.filter { isMaximum($0, m) }.count)],
                                   "maximum and ties, \(what), n \(n)")
            }
        }
    }

    /// Rows (inner 1) of every length above, and columns (inner > 1) of a few, each row or
    /// column one of the cases; a matrix's columns (outer 1) long enough that threads share
    /// them, in blocks of 16; columns longer than the kernels' chunks of 1024 rows, in blocks
    /// of 128, of 16 and fewer (the maxima) and of 256 and fewer (the backward pass).
    func testMaxAlongAnAxisIsTheFirstMaximalElement() {
        var rng = SeededGenerator(seed: 62)
        let shapes = lengths.map { (outer: 2, n: $0, inner: 1) }
            + [(3, 1, 5), (2, 7, 2), (3, 40, 17), (1, 33, 70), (2, 300, 120), (1, 300, 250),
               (1, 17, 4001), (3, 40, 1000), (1, 2100, 300)]
        for (outer, n, inner) in shapes {
            // Column c of the slices takes case c (cycling through them).
            let columns = cases(n, using: &rng).map(\.1)
            var x = [Float](repeating: 0, count: outer * n * inner)
            for o in 0..<outer {
                for i in 0..<inner {
                    let column = columns[(o * inner + i) % columns.count]
                    for k in 0..<n { x[(o * n + k) * inner + i] = column[k] }
                }
            }
            var expectedY = [Float](), expectedIndices = [Int64]()
            for o in 0..<outer {
                for i in 0..<inner {
                    let k = firstMaximum((0..<n).map { x[(o * n + $0) * inner + i] })
                    expectedY.append(x[(o * n + k) * inner + i])
                    expectedIndices.append(Int64(k))
                }
            }
            let dy = randomFloats(outer * inner, using: &rng)
            let dx0 = (0..<x.count).map { $0 % 3 == 0 ? Float(-0.0) : Float($0 % 5) }
            let what = "\(outer) × \(n) × \(inner)"
            let results = assertSameResultForThreadCounts([1, 2, 3], what) { () -> [Float] in
                var y = [Float](repeating: sentinel, count: outer * inner)
                var indices = [Int64](repeating: -1, count: outer * inner)
                ck_max_axis(Int64(outer), Int64(n), Int64(inner), x, &y, &indices)
                XCTAssertEqual(indices, expectedIndices, what)
                var written = [Float](repeating: sentinel, count: x.count), added = dx0
                ck_max_axis_backward(Int64(outer), Int64(n), Int64(inner), indices, dy, 0, &written)
                ck_max_axis_backward(Int64(outer), Int64(n), Int64(inner), indices, dy, 1, &added)
                return y + written + added
            }
            assertBitwiseEqual(Array(results[..<expectedY.count]), expectedY, "values, \(what)")
            var g = [Float](repeating: 0, count: x.count)
            for o in 0..<outer {
                for i in 0..<inner {
                    g[(o * n + Int(expectedIndices[o * inner + i])) * inner + i] = dy[o * inner + i]
                }
            }
            let gradients = results[expectedY.count...]
            assertBitwiseEqual(Array(gradients.prefix(x.count)), g, "gradient, \(what)")
            assertBitwiseEqual(Array(gradients.suffix(x.count)), zip(dx0, g).map { $0 + $1 },
                               "accumulated gradient, \(what)")
        }
    }
}
