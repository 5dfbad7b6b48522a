// ck_sgd, ck_adam and ck_rmsprop against hand-computed steps and Double references.
import CKernels
import DeepLearning
import XCTest

/// Parameters, gradients and velocities of one optimizer state.
private struct SGDState {
    var param: [Float]
    var grad: [Float]
    var velocity: [Float]

    /// One ck_sgd step with dampening 0, no Nesterov and not a first step.
    mutating func step(lr: Float, momentum: Float, weightDecay: Float) {
        let n = Int64(param.count)
        grad.withUnsafeBufferPointer { g in
            param.withUnsafeMutableBufferPointer { p in
                velocity.withUnsafeMutableBufferPointer { v in
                    ck_sgd(n, p.baseAddress, g.baseAddress, v.baseAddress, lr, momentum, 0, weightDecay, 0, 0, 0)
                }
            }
        }
    }

    /// One step of the header's formula, in Double:
    ///   velocity = momentum * velocity + (grad + weight_decay * param);  param -= lr * velocity
    /// Returns the expected param and velocity and a rounding-error bound for each.
    func referenceStep(lr: Float, momentum: Float, weightDecay: Float)
        -> (param: [Double], velocity: [Double], tolerance: [Double])
    {
        let eps = Double(Float.ulpOfOne)
        var newParam = [Double](), newVelocity = [Double](), tolerance = [Double]()
        for i in param.indices {
            let (p, g, v) = (Double(param[i]), Double(grad[i]), Double(velocity[i]))
            let decayed = Double(weightDecay) * p
            let nv = Double(momentum) * v + (g + decayed)
            let size = abs(Double(momentum) * v) + abs(g) + abs(decayed)
            newVelocity.append(nv)
            newParam.append(p - Double(lr) * nv)
            tolerance.append(4 * eps * (abs(p) + Double(lr) * size + size))
        }
        return (newParam, newVelocity, tolerance)
    }
}

final class OptimizerTests: XCTestCase {
    /// lr 0.1, momentum 0.9, weight decay 0.01, the gradient held fixed, worked by hand:
    ///
    /// element 0: param 1.0, grad 0.5, velocity 0
    ///   step 1: v = 0.9*0       + (0.5 + 0.01*1.0)      = 0.51;        p = 1.0      - 0.051       = 0.949
    ///   step 2: v = 0.9*0.51    + (0.5 + 0.01*0.949)    = 0.96849;     p = 0.949    - 0.096849    = 0.852151
    ///   step 3: v = 0.9*0.96849 + (0.5 + 0.01*0.852151) = 1.38016251;  p = 0.852151 - 0.138016251 = 0.714134749
    ///
    /// element 1: param -2.0, grad -1.0, velocity 0.5
    ///   step 1: v = 0.9*0.5      + (-1 + 0.01*-2.0)      = -0.57;       p = -2.0      + 0.057       = -1.943
    ///   step 2: v = 0.9*-0.57    + (-1 + 0.01*-1.943)    = -1.53243;    p = -1.943    + 0.153243    = -1.789757
    ///   step 3: v = 0.9*-1.53243 + (-1 + 0.01*-1.789757) = -2.39708457; p = -1.789757 + 0.239708457 = -1.550048543
    func testThreeStepsMatchHandComputedValues() {
        var state = SGDState(param: [1.0, -2.0], grad: [0.5, -1.0], velocity: [0, 0.5])
        let expected: [(velocity: [Float], param: [Float])] = [
            ([0.51, -0.57], [0.949, -1.943]),
            ([0.96849, -1.53243], [0.852151, -1.789757]),
            ([1.38016251, -2.39708457], [0.714134749, -1.550048543]),
        ]
        for (step, want) in expected.enumerated() {
            state.step(lr: 0.1, momentum: 0.9, weightDecay: 0.01)
            for i in 0..<2 {
                XCTAssertEqual(state.velocity[i], want.velocity[i], accuracy: 1e-6, "velocity[\(i)] after step \(step + 1)")
                XCTAssertEqual(state.param[i], want.param[i], accuracy: 1e-6, "param[\(i)] after step \(step + 1)")
            }
            XCTAssertEqual(state.grad, [0.5, -1.0], "grad is read only")
        }
    }

    /// Momentum 0 is plain SGD: p -= lr * (grad + wd * param), whatever the velocity holds,
    /// which it leaves as it was.
    func testMomentumZeroIsPlainSGD() {
        var state = SGDState(param: [1.0, -2.0, 4.0], grad: [0.5, -1.0, 0.0], velocity: [100, -7, 3])
        state.step(lr: 0.5, momentum: 0, weightDecay: 0.25)
        // p -= 0.5 * (grad + 0.25 * param) (all exact in binary)
        XCTAssertEqual(state.param, [0.625, -1.25, 3.5])
        XCTAssertEqual(state.velocity, [100, -7, 3])
    }

    /// Momentum 0 needs no velocity: a NULL one gives the bits of a buffer, on a vector large
    /// enough to go parallel, on 1 and 2 threads.
    func testMomentumZeroTakesNoBuffer() {
        var rng = SeededGenerator(seed: 32)
        let n = 100_003
        let start = SGDState(param: randomFloats(n, using: &rng), grad: randomFloats(n, using: &rng),
                             velocity: randomFloats(n, using: &rng))
        var withBuffer = start
        withBuffer.step(lr: 0.05, momentum: 0, weightDecay: 1e-3)
        let withoutBuffer = assertSameResultForThreadCounts([1, 2]) { () -> [Float] in
            var param = start.param
            ck_sgd(Int64(n), &param, start.grad, nil, 0.05, 0, 0.5, 1e-3, 0, 0, 0)
            return param
        }
        assertBitwiseEqual(withoutBuffer, withBuffer.param)
        assertBitwiseEqual(withBuffer.velocity, start.velocity, "the buffer is left as it was")
    }

    /// A vector large enough to go parallel, several steps with changing gradients, against
    /// the formula in Double; and 1 and 2 threads give the same bits.
    func testRandomLargeVectorMatchesReference() {
        var rng = SeededGenerator(seed: 31)
        let n = 100_003
        let (lr, momentum, weightDecay): (Float, Float, Float) = (0.05, 0.9, 1e-3)
        var state = SGDState(
            param: randomFloats(n, in: -2...2, using: &rng), grad: [], velocity: randomFloats(n, in: -0.1...0.1, using: &rng))
        for step in 1...3 {
            state.grad = randomFloats(n, using: &rng)
            let reference = state.referenceStep(lr: lr, momentum: momentum, weightDecay: weightDecay)
            let before = state
            assertSameResultForThreadCounts([1, 2], "step \(step)") { () -> [Float] in
                var copy = before
                copy.step(lr: lr, momentum: momentum, weightDecay: weightDecay)
                return copy.param + copy.velocity
            }
            state.step(lr: lr, momentum: momentum, weightDecay: weightDecay)
            assertClose(state.velocity, reference.velocity, tolerance: reference.tolerance, "velocity, step \(step)")
            assertClose(state.param, reference.param, tolerance: reference.tolerance, "param, step \(step)")
        }
    }

    func testZeroSizeDoesNothing() {
        ck_sgd(0, nil, nil, nil, 0.1, 0.9, 0, 0.01, 0, 0, 0)
    }
}

// MARK: - ck_sgd, ck_adam and ck_rmsprop against references in Double

/// One optimizer kernel's arrays for n elements, back to back in one array so that one
/// pointer reaches them all: the parameters, the gradient, then the kernel's state buffers.
private struct KernelArrays {
    let n: Int
    var storage: [Float]

    init(param: [Float], grad: [Float], buffers: [[Float]]) {
        n = param.count
        storage = ([param, grad] + buffers).flatMap { $0 }
    }

    /// Array k: 0 the parameters, 1 the gradient, 2... the buffers.
    func array(_ k: Int) -> [Float] { Array(storage[(k * n)..<((k + 1) * n)]) }

    /// What a kernel writes: the parameters and the buffers.
    var outputs: [Float] { Array(storage[0..<n]) + Array(storage[(2 * n)...]) }

    /// Calls `kernel` with n, the parameters, the gradient and the buffers.
    mutating func run(
        _ kernel: (Int64, UnsafeMutablePointer<Float>, UnsafePointer<Float>, [UnsafeMutablePointer<Float>]) -> Void
    ) {
        let (n, arrays) = (n, storage.count / max(n, 1))
        storage.withUnsafeMutableBufferPointer { s in
            let base = s.baseAddress!
            kernel(Int64(n), base, UnsafePointer(base + n), (2..<arrays).map { base + $0 * n })
        }
    }
}

/// An output of a reference step: its value and the size of the terms it sums, which bounds
/// the kernel's rounding error.
private typealias ReferenceOutput = (value: Double, magnitude: Double)

/// Runs `kernel` for steps 1...3, each with a fresh random gradient, on vectors of 1, 7, 2000
/// and 40_003 elements (the last opens a parallel region), from the parameters and buffers
/// `initial` draws. After each step the parameters and buffers must match `reference`, one
/// element at a time from the kernel's previous state (param, grad, buffers in; param and
/// buffers out), within 16 ulp of their magnitude; on the largest vector 1 and 2 threads
/// must give the same bits.
private func checkKernel(
    seed: UInt64, _ what: String, file: StaticString = #filePath, line: UInt = #line,
    initial: (_ n: Int, _ rng: inout SeededGenerator) -> (param: [Float], buffers: [[Float]]),
    kernel: @escaping (_ step: Int, Int64, UnsafeMutablePointer<Float>, UnsafePointer<Float>,
                       [UnsafeMutablePointer<Float>]) -> Void,
    reference: (_ step: Int, _ param: Double, _ grad: Double, _ buffers: [Double]) -> [ReferenceOutput]
) {
    var rng = SeededGenerator(seed: seed)
    for n in [1, 7, 2000, 40_003] {
        let start = initial(n, &rng)
        var arrays = KernelArrays(param: start.param, grad: start.param, buffers: start.buffers)
        let bufferCount = start.buffers.count
        for step in 1...3 {
            let before = KernelArrays(
                param: arrays.array(0), grad: randomFloats(n, using: &rng),
                buffers: (0..<bufferCount).map { arrays.array(2 + $0) })
            // The outputs, as the kernel writes them: the parameters, then each buffer.
            var expected = [Double](repeating: 0, count: (1 + bufferCount) * n), tolerance = expected
            let inputs = (0...(1 + bufferCount)).map { before.array($0).map(Double.init) }
            for i in 0..<n {
                let outputs = reference(step, inputs[0][i], inputs[1][i], inputs[2...].map { $0[i] })
                for (k, output) in outputs.enumerated() {
                    expected[k * n + i] = output.value
                    tolerance[k * n + i] = 16 * Double(Float.ulpOfOne) * output.magnitude
                }
            }
            let run = { () -> [Float] in
                var copy = before
                copy.run { kernel(step, $0, $1, $2, $3) }
                XCTAssertEqual(copy.array(1), before.array(1), "\(what): grad is read only", file: file, line: line)
                return copy.outputs
            }
            let got = n > 32_768
                ? assertSameResultForThreadCounts([1, 2], "\(what), step \(step)", file: file, line: line, run)
                : run()
            assertClose(got, expected, tolerance: tolerance, "\(what), n \(n), step \(step)", file: file, line: line)
            arrays = before
            arrays.run { kernel(step, $0, $1, $2, $3) }
        }
    }
}

/// Parameters in [-2, 2] and buffers drawn from the given ranges (nil: a NaN the kernel
/// must not read on its first step).
private func randomStart(_ ranges: [ClosedRange<Float>?])
    -> (Int, inout SeededGenerator) -> (param: [Float], buffers: [[Float]])
{
    { n, rng in
        let buffers = ranges.map { range in
            range.map { randomFloats(n, in: $0, using: &rng) } ?? [Float](repeating: .nan, count: n)
        }
        return (randomFloats(n, in: -2...2, using: &rng), buffers)
    }
}

// MARK: - ck_adam and ck_rmsprop against PyTorch's roundings

/// One step of an optimizer kernel at step t (1, 2, ...) on n elements: the parameters, the
/// gradient and the kernel's buffers.
private typealias KernelStep = (_ step: Int, _ n: Int64, UnsafeMutablePointer<Float>, UnsafePointer<Float>,
                                [UnsafeMutablePointer<Float>]) -> Void

/// Runs `kernel` for steps 1...4 (so that Adam's bias corrections change), each with a fresh
/// gradient, on 70,001 elements (a parallel region, vector loops and their tails), from the
/// parameters and buffers `initial` draws, and requires at each step the bits `mirror`
/// computes from the same state, on 1 and 2 threads.
private func assertRoundsAsPyTorch(
    seed: UInt64, _ what: String, file: StaticString = #filePath, line: UInt = #line,
    initial: (_ n: Int, _ rng: inout SeededGenerator) -> (param: [Float], buffers: [[Float]]),
    kernel: KernelStep, mirror: KernelStep
) {
    var rng = SeededGenerator(seed: seed)
    let n = 70_001
    let start = initial(n, &rng)
    var state = KernelArrays(param: start.param, grad: start.param, buffers: start.buffers)
    for step in 1...4 {
        let before = KernelArrays(param: state.array(0), grad: randomFloats(n, using: &rng),
                                  buffers: start.buffers.indices.map { state.array(2 + $0) })
        var expected = before
        expected.run { mirror(step, $0, $1, $2, $3) }
        let got = assertSameResultForThreadCounts([1, 2], "\(what), step \(step)", file: file, line: line) {
            () -> [Float] in
            var arrays = before
            arrays.run { kernel(step, $0, $1, $2, $3) }
            return arrays.outputs
        }
        assertBitwiseEqual(got, expected.outputs, "\(what), step \(step)", file: file, line: line)
        state = expected
    }
}

/// PyTorch's CPU operations as its kernels round them (on a CPU with FMA; addingProduct is
/// one fused multiply-add). start.lerp_(end, weight): the difference rounded, then one
/// multiply-add, from end for weights of 0.5 and more.
private func lerpAsPyTorch(_ start: Float, _ end: Float, _ weight: Float) -> Float {
    let difference = end - start
    return abs(weight) < 0.5 ? start.addingProduct(weight, difference) : end.addingProduct(weight - 1, difference)
}

/// grad.add(param, alpha: weightDecay), which the optimizers skip for weight decay 0.
private func plusWeightDecayAsPyTorch(_ grad: Float, _ weightDecay: Float, _ param: Float) -> Float {
    weightDecay == 0 ? grad : grad.addingProduct(weightDecay, param)
}

/// average.mul_(keep).addcmul_(g, g, value: weight): both products rounded, then one
/// multiply-add.
private func averageOfSquaresAsPyTorch(_ average: Float, _ keep: Float, _ g: Float, _ weight: Float) -> Float {
    (average * keep).addingProduct(weight * g, g)
}

extension OptimizerTests {
    /// ck_sgd, PyTorch's rule: the first step copies g (the velocity may hold NaN: it is not
    /// read), later steps dampen; Nesterov or not; with momentum 0 every step is g's, and the
    /// velocity is left as it was.
    func testSGDMatchesReference() {
        let cases: [(momentum: Float, dampening: Float, nesterov: Bool, fromFirstStep: Bool)] = [
            (0.9, 0, false, true), (0.9, 0.3, false, true), (0.9, 0, true, true),
            (0.8, 0.5, false, false), (0.9, 0, true, false), (0, 0.5, false, false),
        ]
        let (lr, weightDecay): (Float, Float) = (0.05, 0.01)
        for (index, c) in cases.enumerated() {
            let (m, damp, wd) = (Double(c.momentum), Double(c.dampening), Double(weightDecay))
            checkKernel(
                seed: 40 + UInt64(index), "SGD \(c)",
                initial: randomStart([c.fromFirstStep ? nil : -0.5...0.5]),
                kernel: { step, n, p, g, b in
                    ck_sgd(n, p, g, b[0], lr, c.momentum, c.dampening, weightDecay, c.nesterov ? 1 : 0, 0,
                           c.fromFirstStep && step == 1 ? 1 : 0)
                },
                reference: { step, p, grad, b in
                    let g = grad + wd * p, gSize = abs(grad) + abs(wd * p)
                    guard m > 0 else { return [(p - Double(lr) * g, abs(p) + Double(lr) * gSize), (b[0], 0)] }
                    let first = c.fromFirstStep && step == 1
                    let velocity = first ? g : m * b[0] + (1 - damp) * g
                    let vSize = first ? gSize : abs(m * b[0]) + abs(1 - damp) * gSize
                    let (d, dSize) = c.nesterov ? (g + m * velocity, gSize + m * vSize) : (velocity, vSize)
                    return [(p - Double(lr) * d, abs(p) + Double(lr) * dSize), (velocity, vSize)]
                })
        }
    }

    /// ck_sgd rounds as PyTorch's torch.optim.SGD on a CPU with FMA, bit for bit: each
    /// add(x, alpha: a) of its step is one fused multiply-add (addingProduct), the product
    /// momentum * velocity rounded on its own; the same on every instruction set (fmaf), and on
    /// 1 and 2 threads. On 70,001 elements (a parallel region, vector loops and their tails).
    func testSGDRoundsAsPyTorch() {
        var rng = SeededGenerator(seed: 49)
        let n = 70_001
        let start = KernelArrays(param: randomFloats(n, in: -2...2, using: &rng),
                                 grad: randomFloats(n, using: &rng),
                                 buffers: [randomFloats(n, in: -0.5...0.5, using: &rng)])
        let (lr, weightDecay): (Float, Float) = (0.05, 0.01)
        let cases: [(momentum: Float, dampening: Float, nesterov: Bool, firstStep: Bool)] = [
            (0.9, 0, false, false), (0.9, 0.3, false, false), (0.9, 0, true, false),
            (0.9, 0, true, true), (0, 0, false, false),
        ]
        for c in cases {
            var expected = start
            expected.run { n, p, g, b in
                for i in 0..<Int(n) {
                    let grad = g[i].addingProduct(weightDecay, p[i])
                    var direction = grad
                    if c.momentum > 0 {
                        let kept = c.momentum * b[0][i]
                        let velocity = c.firstStep ? grad : kept.addingProduct(1 - c.dampening, grad)
                        b[0][i] = velocity
                        direction = c.nesterov ? grad.addingProduct(c.momentum, velocity) : velocity
                    }
                    p[i] = p[i].addingProduct(-lr, direction)
                }
            }
            let got = assertSameResultForThreadCounts([1, 2], "\(c)") { () -> [Float] in
                var arrays = start
                arrays.run { n, p, g, b in
                    ck_sgd(n, p, g, b[0], lr, c.momentum, c.dampening, weightDecay, c.nesterov ? 1 : 0, 0,
                           c.firstStep ? 1 : 0)
                }
                return arrays.outputs
            }
            assertBitwiseEqual(got, expected.outputs, "\(c)")
        }
    }

    /// Without weight decay PyTorch's SGD adds nothing to the gradient: an infinite parameter
    /// stays infinite (0 · ∞ would be NaN) and a gradient of -0 reaches the momentum buffer as
    /// -0 (0 · p + -0 is +0); plain, with momentum and Nesterov's, on a first step.
    func testSGDWithoutWeightDecayAddsNothingToTheGradient() {
        let param: [Float] = [.infinity, -.infinity, 1, 2]
        let grad: [Float] = [1, -1, -0.0, -0.0]
        for (momentum, nesterov) in [(Float(0), false), (0.9, false), (0.9, true)] {
            var arrays = KernelArrays(param: param, grad: grad, buffers: [[0, 0, 0, 0]])
            arrays.run { n, p, g, b in
                ck_sgd(n, p, g, b[0], 0.1, momentum, 0, 0, nesterov ? 1 : 0, 0, 1)
            }
            assertBitwiseEqual(arrays.array(0), param, "momentum \(momentum), nesterov \(nesterov)")
            if momentum > 0 {
                assertBitwiseEqual(arrays.array(2), grad, "momentum \(momentum), nesterov \(nesterov)")
            }
        }
    }

    /// ck_sgd_tensors on tensors of 0, 1, 17, 3,000 and 70,001 elements (together enough for
    /// a parallel region, whose split crosses tensors) gives the bits of one ck_sgd per tensor,
    /// on 1, 2 and 3 threads, on a first step, a later one and a mix (each tensor's own), with
    /// dampening and Nesterov.
    func testSGDTensorsEqualsOneCallPerTensor() {
        var rng = SeededGenerator(seed: 48)
        let sizes = [0, 1, 17, 3_000, 70_001]
        let offsets = sizes.indices.map { sizes[..<$0].reduce(0, +) }
        let total = sizes.reduce(0, +)
        // The tensors one after another in each array: tensor t at offsets[t].
        let start = KernelArrays(
            param: randomFloats(total, using: &rng), grad: randomFloats(total, using: &rng),
            buffers: [randomFloats(total, using: &rng)])
        let mixed: [Int32] = [1, 0, 1, 0, 1]
        for (nesterov, dampening, firstSteps) in [(false, Float(0.25), [Int32](repeating: 1, count: 5)),
                                                  (true, 0, [Int32](repeating: 0, count: 5)),
                                                  (false, 0.25, mixed), (true, 0, mixed)] {
            let what = "nesterov \(nesterov), dampening \(dampening), first steps \(firstSteps)"
            var perTensor = start
            perTensor.run { _, p, g, b in
                for t in sizes.indices {
                    ck_sgd(Int64(sizes[t]), p + offsets[t], g + offsets[t], b[0] + offsets[t], 0.1, 0.9, dampening,
                           0.01, nesterov ? 1 : 0, 0, firstSteps[t])
                }
            }
            let together = assertSameResultForThreadCounts([1, 2, 3], what) { () -> [Float] in
                var tensors = start
                tensors.run { _, p, g, b in
                    let params: [UnsafeMutablePointer<Float>?] = offsets.map { p + $0 }
                    let grads: [UnsafePointer<Float>?] = offsets.map { g + $0 }
                    let velocities: [UnsafeMutablePointer<Float>?] = offsets.map { b[0] + $0 }
                    ck_sgd_tensors(Int64(sizes.count), sizes.map(Int64.init), params, grads, velocities, 0.1, 0.9,
                                   dampening, 0.01, nesterov ? 1 : 0, 0, firstSteps)
                }
                return tensors.outputs
            }
            assertBitwiseEqual(together, perTensor.outputs, what)
        }
    }

    /// ck_adam, L2 (Adam) and decoupled (AdamW) weight decay, at steps 1, 2 and 3 with
    /// PyTorch's bias corrections, from moments in mid-training.
    func testAdamMatchesReference() {
        let (lr, beta1, beta2, eps, weightDecay): (Float, Float, Float, Float, Float) = (0.01, 0.9, 0.99, 1e-3, 0.1)
        for decoupled in [false, true] {
            let corrections = { (step: Int) in
                (1 - pow(Double(beta1), Double(step)), 1 - pow(Double(beta2), Double(step)))
            }
            checkKernel(
                seed: decoupled ? 51 : 50, "Adam, decoupled \(decoupled)",
                initial: randomStart([-0.5...0.5, 0...0.5]),
                kernel: { step, n, p, g, b in
                    let (c1, c2) = corrections(step)
                    ck_adam(n, p, g, b[0], b[1], nil, lr, beta1, beta2, eps, weightDecay, 0, decoupled ? 1 : 0, c1, c2)
                },
                reference: { step, p, grad, b in
                    let (b1, b2, wd) = (Double(beta1), Double(beta2), Double(weightDecay))
                    let decayed = decoupled ? p * (1 - Double(lr) * wd) : p
                    let g = decoupled ? grad : grad + wd * p
                    let m = b1 * b[0] + (1 - b1) * g, v = b2 * b[1] + (1 - b2) * g * g
                    let (c1, c2) = corrections(step)
                    let stepSize = Double(lr) / c1
                    let denominator = (v / c2).squareRoot() + Double(eps)
                    let gSize = abs(grad) + wd * abs(p), mSize = b1 * abs(b[0]) + (1 - b1) * gSize
                    return [(decayed - stepSize * m / denominator, abs(p) + stepSize * mSize / denominator),
                            (m, mSize), (v, b2 * b[1] + (1 - b2) * gSize * gSize)]
                })
        }
    }

    /// ck_rmsprop, plain and centered, with and without momentum (NULL buffers where unused).
    func testRMSPropMatchesReference() {
        let (lr, alpha, eps, weightDecay): (Float, Float, Float, Float) = (0.01, 0.9, 1e-3, 0.1)
        for (index, (centered, momentum)) in [(false, Float(0)), (true, 0), (false, 0.9), (true, 0.9)].enumerated() {
            // Buffers: square average, then the gradient average if centered, then momentum.
            let ranges: [ClosedRange<Float>?] =
                [0.1...1] + (centered ? [-0.1...0.1] : []) + (momentum > 0 ? [-1...1] : [])
            checkKernel(
                seed: 60 + UInt64(index), "RMSProp, centered \(centered), momentum \(momentum)",
                initial: randomStart(ranges),
                kernel: { _, n, p, g, b in
                    ck_rmsprop(n, p, g, b[0], centered ? b[1] : nil, momentum > 0 ? b.last : nil, lr, alpha, eps,
                               weightDecay, momentum, 0)
                },
                reference: { _, p, grad, b in
                    let (a, wd, mom) = (Double(alpha), Double(weightDecay), Double(momentum))
                    let g = grad + wd * p, gSize = abs(grad) + wd * abs(p)
                    var outputs: [ReferenceOutput] = []
                    let v = a * b[0] + (1 - a) * g * g
                    var (centeredV, amplification) = (v, 1.0)
                    if centered {
                        let mean = a * b[1] + (1 - a) * g
                        outputs.append((mean, a * abs(b[1]) + (1 - a) * gSize))
                        centeredV -= mean * mean
                        // The cancellation in v − ḡ² magnifies the relative error of the quotient.
                        amplification = (v + mean * mean) / centeredV
                    }
                    let denominator = centeredV.squareRoot() + Double(eps)
                    var step = g / denominator
                    var stepSize = gSize / denominator * (1 + amplification)
                    if momentum > 0 {
                        let buffer = b.last!
                        step += mom * buffer
                        stepSize += mom * abs(buffer)
                        outputs.append((step, stepSize))
                    }
                    let vSize = a * b[0] + (1 - a) * gSize * gSize
                    return [(p - Double(lr) * step, abs(p) + Double(lr) * stepSize), (v, vSize)] + outputs
                })
        }
    }
}

extension OptimizerTests {
    /// ck_adam rounds as PyTorch's torch.optim.Adam and AdamW (their default single-tensor
    /// step on the CPU) with a correctly rounded sqrt, bit for bit: its scalars rounded from
    /// Double, exp_avg.lerp_, exp_avg_sq.mul_().addcmul_(), sqrt / bias_correction2 ** 0.5 +
    /// eps, param.addcdiv_(exp_avg, denom, value: -step_size); AdamW's param.mul_(1 − lr·wd)
    /// first; Adam's L2 term added only when not 0. β₁ 0.3 takes lerp's other branch.
    /// maximize negates the gradient first; amsgrad keeps torch.maximum(max_exp_avg_sq,
    /// exp_avg_sq) and divides by its root (its buffer starts above exp_avg_sq in some elements,
    /// below in others, and exp_avg_sq falls in some steps, so both sides of the max are taken).
    func testAdamRoundsAsPyTorch() {
        let cases: [(beta1: Float, beta2: Float, weightDecay: Float, decoupled: Bool, amsgrad: Bool, maximize: Bool)] = [
            (0.9, 0.999, 0, false, false, false), (0.9, 0.999, 0.01, false, false, false),
            (0.3, 0.99, 0.1, false, false, false), (0.9, 0.999, 0.01, true, false, false),
            (0.9, 0.999, 0.01, false, true, false), (0.3, 0.99, 0.1, true, true, false),
            (0.9, 0.999, 0.01, false, false, true), (0.9, 0.999, 0.01, true, true, true),
        ]
        let (lr, eps): (Float, Float) = (1e-3, 1e-8)
        for (index, c) in cases.enumerated() {
            let corrections = { (step: Int) in
                (1 - pow(Double(c.beta1), Double(step)), 1 - pow(Double(c.beta2), Double(step)))
            }
            let ranges: [ClosedRange<Float>?] = [-0.5...0.5, 0...0.5] + (c.amsgrad ? [0...0.5] : [])
            assertRoundsAsPyTorch(
                seed: 70 + UInt64(index), "Adam \(c)", initial: randomStart(ranges),
                kernel: { step, n, p, g, b in
                    let (c1, c2) = corrections(step)
                    ck_adam(n, p, g, b[0], b[1], c.amsgrad ? b[2] : nil, lr, c.beta1, c.beta2, eps, c.weightDecay,
                            c.maximize ? 1 : 0, c.decoupled ? 1 : 0, c1, c2)
                },
                mirror: { step, n, p, g, b in
                    let (c1, c2) = corrections(step)
                    let negativeStepSize = Float(-(Double(lr) / c1)), c2Root = Float(pow(c2, 0.5))
                    let decay = c.decoupled ? Float(1 - Double(lr) * Double(c.weightDecay)) : 1
                    let l2 = c.decoupled ? 0 : c.weightDecay
                    let (w1, w2) = (Float(1 - Double(c.beta1)), Float(1 - Double(c.beta2)))
                    for i in 0..<Int(n) {
                        let param = p[i] * decay
                        let grad = plusWeightDecayAsPyTorch(c.maximize ? -g[i] : g[i], l2, param)
                        b[0][i] = lerpAsPyTorch(b[0][i], grad, w1)
                        b[1][i] = averageOfSquaresAsPyTorch(b[1][i], c.beta2, grad, w2)
                        if c.amsgrad { b[2][i] = max(b[2][i], b[1][i]) }
                        let denominator = (c.amsgrad ? b[2][i] : b[1][i]).squareRoot() / c2Root + eps
                        p[i] = param + negativeStepSize * b[0][i] / denominator
                    }
                })
        }
    }

    /// ck_rmsprop rounds as PyTorch's torch.optim.RMSprop (its default single-tensor step on
    /// the CPU) with a correctly rounded sqrt, bit for bit, plain and centered, with and
    /// without momentum and weight decay: square_avg.mul_().addcmul_(), grad_avg.lerp_(),
    /// square_avg.addcmul(grad_avg, grad_avg, value: -1).sqrt_() + eps; with momentum
    /// buf.mul_(momentum).addcdiv_(g, avg) and param.add_(buf, alpha: -lr), without
    /// param.addcdiv_(g, avg, value: -lr). α 0.3 takes lerp's other branch.
    func testRMSPropRoundsAsPyTorch() {
        let (lr, eps): (Float, Float) = (1e-2, 1e-8)
        var cases: [(alpha: Float, centered: Bool, momentum: Float, weightDecay: Float)] = []
        for centered in [false, true] {
            for momentum: Float in [0, 0.9] {
                for weightDecay: Float in [0, 0.01] { cases.append((0.99, centered, momentum, weightDecay)) }
            }
        }
        cases.append((0.3, true, 0.9, 0.01))
        for (index, c) in cases.enumerated() {
            // Buffers: square average, then the gradient average if centered, then momentum.
            let ranges: [ClosedRange<Float>?] =
                [0.1...1] + (c.centered ? [-0.1...0.1] : []) + (c.momentum > 0 ? [-1...1] : [])
            assertRoundsAsPyTorch(
                seed: 80 + UInt64(index), "RMSProp \(c)", initial: randomStart(ranges),
                kernel: { _, n, p, g, b in
                    ck_rmsprop(n, p, g, b[0], c.centered ? b[1] : nil, c.momentum > 0 ? b.last : nil, lr, c.alpha,
                               eps, c.weightDecay, c.momentum, 0)
                },
                mirror: { _, n, p, g, b in
                    let weight = Float(1 - Double(c.alpha))
                    for i in 0..<Int(n) {
                        let param = p[i]
                        let grad = plusWeightDecayAsPyTorch(g[i], c.weightDecay, param)
                        let square = averageOfSquaresAsPyTorch(b[0][i], c.alpha, grad, weight)
                        b[0][i] = square
                        var variance = square
                        if c.centered {
                            let mean = lerpAsPyTorch(b[1][i], grad, weight)
                            b[1][i] = mean
                            variance = square.addingProduct(-mean, mean)
                        }
                        let denominator = variance.squareRoot() + eps
                        if c.momentum > 0 {
                            let buffer = b.last![i] * c.momentum + grad / denominator
                            b.last![i] = buffer
                            p[i] = param.addingProduct(-lr, buffer)
                        } else {
                            p[i] = param + -lr * grad / denominator
                        }
                    }
                })
        }
    }
}

extension OptimizerTests {
    /// PyTorch's `maximize` negates the gradient before anything else (exactly): each kernel
    /// with maximize gives the bits it gives without, from the negated gradient, on every
    /// buffer, with and without weight decay, on 1 and 2 threads.
    func testMaximizeStepsAsTheNegatedGradient() {
        typealias Step = (_ maximize: Int32, Int64, UnsafeMutablePointer<Float>, UnsafePointer<Float>,
                          [UnsafeMutablePointer<Float>]) -> Void
        let (c1, c2) = (1 - pow(0.9, 2.0), 1 - pow(0.999, 2.0))
        for weightDecay: Float in [0, 0.01] {
            let kernels: [(String, [ClosedRange<Float>?], Step)] = [
                ("SGD", [-0.5...0.5], { ck_sgd($1, $2, $3, $4[0], 0.05, 0.9, 0.1, weightDecay, 0, $0, 0) }),
                ("SGD Nesterov", [-0.5...0.5], { ck_sgd($1, $2, $3, $4[0], 0.05, 0.9, 0, weightDecay, 1, $0, 0) }),
                ("Adam", [-0.5...0.5, 0...0.5], {
                    ck_adam($1, $2, $3, $4[0], $4[1], nil, 1e-3, 0.9, 0.999, 1e-8, weightDecay, $0, 0, c1, c2)
                }),
                ("AdamW amsgrad", [-0.5...0.5, 0...0.5, 0...0.5], {
                    ck_adam($1, $2, $3, $4[0], $4[1], $4[2], 1e-3, 0.9, 0.999, 1e-8, weightDecay, $0, 1, c1, c2)
                }),
                ("RMSProp centered, momentum", [0.1...1, -0.1...0.1, -1...1], {
                    ck_rmsprop($1, $2, $3, $4[0], $4[1], $4[2], 0.01, 0.99, 1e-8, weightDecay, 0.9, $0)
                }),
            ]
            for (index, (what, ranges, kernel)) in kernels.enumerated() {
                var rng = SeededGenerator(seed: 90 + UInt64(index))
                let n = 70_001
                let start = randomStart(ranges)(n, &rng)
                var grad = randomFloats(n, using: &rng)
                grad[0] = 0
                let maximized = assertSameResultForThreadCounts([1, 2], "\(what), weight decay \(weightDecay)") {
                    () -> [Float] in
                    var arrays = KernelArrays(param: start.param, grad: grad, buffers: start.buffers)
                    arrays.run { kernel(1, $0, $1, $2, $3) }
                    return arrays.outputs
                }
                var negated = KernelArrays(param: start.param, grad: grad.map { -$0 }, buffers: start.buffers)
                negated.run { kernel(0, $0, $1, $2, $3) }
                assertBitwiseEqual(maximized, negated.outputs, "\(what), weight decay \(weightDecay)")
            }
        }
    }
}

final class PenaltyKernelTests: XCTestCase {
    func testPenaltyMatchesReferenceAndIsIndependentOfTheThreadCount() {
        var rng = SeededGenerator(seed: 31)
        for n in [1, 7, 70_001] {
            let param = randomFloats(n, using: &rng), grad = randomFloats(n, using: &rng)
            let (l1, l2): (Float, Float) = (0.3, 0.05)
            func run() -> [Float] {
                var g = grad
                let value = param.withUnsafeBufferPointer { ps in
                    g.withUnsafeMutableBufferPointer { ck_penalty(Int64(n), ps.baseAddress, $0.baseAddress, l1, l2) }
                }
                return [Float(value)] + g
            }
            let result = run()
            let expectedValue = param.reduce(0.0) { $0 + 0.3 * abs(Double($1)) + 0.05 * Double($1) * Double($1) }
            XCTAssertEqual(Double(result[0]), expectedValue, accuracy: 1e-6 * max(1, expectedValue))
            let sign: (Float) -> Double = { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
            assertClose(Array(result.dropFirst()),
                        zip(param, grad).map { Double($1) + 0.3 * sign($0) + 0.1 * Double($0) },
                        tolerance: 1e-6, "gradients n \(n)")
            if n > 32768 { assertSameResultForThreadCounts { run() } }
        }
    }
}
