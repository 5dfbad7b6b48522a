import XCTest
@testable import DeepLearning

/// `*` and `/` of equal shapes write an input's gradient over the input's saved values when
/// nothing but their node holds them (`GradientNode.gradientTarget(forInput:overSaved:)`),
/// as in `a / (b * b + 1)`, whose `b * b + 1` nobody keeps. These cases would give wrong
/// gradients, or change a tensor someone can still read, if the values were overwritten while
/// something else holds them.
final class GradientOverSavedValuesTests: XCTestCase {
    private func leaf(_ values: [Float]) -> Tensor {
        Tensor(shape: [values.count], values: values, requiresGradient: true)
    }

    /// Where the gradient of the divisor `t` of `a / t` goes, `t` computed by `+ 1` from a
    /// leaf: over `t`'s values when `t` is dropped; elsewhere while `t`, a view of it or
    /// another node that saved it still holds its values, and for a leaf (its gradient
    /// buffer) or an input that has a gradient already (added to).
    func testTheGradientGoesOverSavedValuesOnlyWhenNothingElseHoldsThem() {
        let a = leaf([1, 2, 3]), b = leaf([4, 5, 6])
        /// The target of t's gradient, t's values and the tensors `keep` returned, kept alive
        /// until the target was taken.
        func divisorTarget(keeping keep: (Tensor, Tensor) -> [Tensor])
            -> (target: GradientTarget, values: UnsafeMutablePointer<Float>) {
            var t: Tensor? = b + 1
            let values = t!.value
            let y = a / t!
            let kept = keep(t!, y)
            t = nil
            let target = y.gradientNode!.gradientTarget(forInput: 1, overSaved: 1)!
            withExtendedLifetime(kept) {}
            return (target, values)
        }
        let dropped = divisorTarget { _, _ in [] }
        XCTAssertEqual(dropped.target.buffer, dropped.values)
        XCTAssertFalse(dropped.target.accumulate)
        let holders: [(String, (Tensor, Tensor) -> [Tensor])] = [
            ("the tensor", { t, _ in [t] }),
            ("a view", { t, _ in [t.reshaped([3, 1])] }),
            ("another node", { t, _ in [t * a] }),
        ]
        for (holder, keep) in holders {
            let held = divisorTarget(keeping: keep)
            XCTAssertNotEqual(held.target.buffer, held.values, holder)
            XCTAssertFalse(held.target.accumulate, holder)
        }
        let y = a / b
        let target = y.gradientNode!.gradientTarget(forInput: 1, overSaved: 1)!
        XCTAssertNotEqual(target.buffer, b.value)
        // An input whose gradient is there already: added to, wherever it is.
        let t = b + 1, twice = a / t
        let first = twice.gradientNode!.gradientTarget(forInput: 1, overSaved: 1)!
        let second = twice.gradientNode!.gradientTarget(forInput: 1, overSaved: 1)!
        XCTAssertEqual(second.buffer, first.buffer)
        XCTAssertTrue(second.accumulate)
    }

    /// The gradients of expressions whose intermediates are dropped (written over) have the
    /// bits of the same expressions with the intermediates kept (new buffers, the kept values
    /// unchanged) for every number, NaN where those are NaN (the sign and payload of a NaN that
    /// arithmetic makes are no result's: the compiler may negate or order operands otherwise
    /// when the output is an input), on 1 and 2 threads, on tiny, awkward and parallel sizes,
    /// zeros, infinities and NaN among the inputs: b's gradient through `b * b + 1`, both inputs' through
    /// `(a + 1) * (b - 2)`, the divisor's alone in `2 / (b + 1)`, and `x * x` of a node
    /// (never written over: saved twice).
    func testGradientsOverSavedValuesHaveTheBitsOfNewBuffersExceptNaNs() {
        let previousThreads = Threads.count
        defer { Threads.count = previousThreads }
        var generator = SeededGenerator(seed: 5)
        let special: [Float] = [0, -0, .infinity, -.infinity, .nan, 1e-30, -1]
        let expressions: [(String, (Tensor, Tensor, inout [Tensor]) -> Tensor)] = [
            ("a / (b * b + 1)", { a, b, kept in
                let t = b * b + 1
                kept.append(t)
                return a / t
            }),
            ("(a + 1) * (b - 2)", { a, b, kept in
                let (u, v) = (a + 1, b - 2)
                kept += [u, v]
                return u * v
            }),
            ("2 / (b + 1)", { _, b, kept in
                let t = b + 1
                kept.append(t)
                return 2 / t
            }),
            ("(a * 3) / (b + 1)", { a, b, kept in
                let (u, v) = (a * 3, b + 1)
                kept += [u, v]
                return u / v
            }),
            ("x * x", { _, b, kept in
                let x = b + 1
                kept.append(x)
                return x * x
            }),
        ]
        for n in [1, 2, 15, 17, 70_001] {
            let filler = max(n - special.count, 0)
            let a = Array(special.prefix(n)) + (0..<filler).map { _ in
                Float.random(in: -2..<2, using: &generator)
            }
            let b = Array(special.reversed().prefix(n)) + (0..<filler).map { _ in
                Float.random(in: 0.5..<2, using: &generator)
            }
            let dy = Tensor(shape: [n], values: (0..<n).map { _ in
                Float.random(in: -1..<1, using: &generator)
            })
            for (name, expression) in expressions {
                var results: [[UInt32]] = [] // the bits, every NaN as Float.nan's
                for threads in [1, 2] {
                    Threads.count = threads
                    for keeps in [true, false] {
                        let (x, y) = (leaf(a), leaf(b))
                        for _ in 1...2 { // the second pass adds to the leaves' gradients
                            var kept: [Tensor] = []
                            let output = expression(x, y, &kept)
                            if !keeps { kept = [] }
                            let keptValues = kept.map { $0.values.map(\.bitPattern) }
                            output.backward(dy)
                            XCTAssertEqual(kept.map { $0.values.map(\.bitPattern) }, keptValues,
                                           "\(name), n \(n): a kept tensor was written")
                        }
                        results.append((x.gradients + y.gradients).map {
                            $0.isNaN ? Float.nan.bitPattern : $0.bitPattern
                        })
                    }
                }
                for (index, result) in results.enumerated().dropFirst() {
                    XCTAssertEqual(result, results[0], "\(name), n \(n), run \(index)")
                }
            }
        }
    }

    /// Against finite differences: intermediates written over, one of them then added to by
    /// a later use (`u` in `(u + b) + a / u`, whose `/` runs first), or adding to the gradient
    /// another use gave first (`a / u + (u + b)`).
    func testGradientsOverSavedValuesMatchFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 23)
        let a = differentiableTensor([3, 5], using: &generator)
        let b = differentiableTensor([3, 5], in: 0.5..<2, using: &generator)
        try gradientCheck(at: [a, b]) { p in (p[0] / (p[1] * p[1] + 1)).sum() }
        try gradientCheck(at: [a, b]) { p in ((p[0] + 1) * (p[1] - 2) * 3).sum() }
        try gradientCheck(at: [a, b]) { p in (2 / (p[1] + 1) + p[0]).sum() }
        try gradientCheck(at: [a, b]) { p in
            let u = p[1] * 2 + 1
            return ((u + p[0]) + p[0] / u).sum()
        }
        try gradientCheck(at: [a, b]) { p in
            let u = p[1] * 2 + 1
            return (p[0] / u + (u + p[0])).sum()
        }
    }
}
