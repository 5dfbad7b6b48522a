// ck_sgd_momentum against hand-computed steps and a plain Swift loop.
import CKernels
import DeepLearning
import XCTest

/// Parameters, gradients and velocities of one optimizer state.
private struct SGDState {
    var param: [Float]
    var grad: [Float]
    var velocity: [Float]

    /// One ck_sgd_momentum step.
    mutating func step(lr: Float, momentum: Float, weightDecay: Float) {
        let n = Int64(param.count)
        grad.withUnsafeBufferPointer { g in
            param.withUnsafeMutableBufferPointer { p in
                velocity.withUnsafeMutableBufferPointer { v in
                    ck_sgd_momentum(n, p.baseAddress, g.baseAddress, v.baseAddress, lr, momentum, weightDecay)
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

    /// Momentum 0 is plain SGD: velocity = grad + wd * param, whatever it held before.
    func testMomentumZeroIsPlainSGD() {
        var state = SGDState(param: [1.0, -2.0, 4.0], grad: [0.5, -1.0, 0.0], velocity: [100, -7, 3])
        state.step(lr: 0.5, momentum: 0, weightDecay: 0.25)
        // v = grad + 0.25 * param; p -= 0.5 * v (all exact in binary)
        XCTAssertEqual(state.velocity, [0.75, -1.5, 1.0])
        XCTAssertEqual(state.param, [0.625, -1.25, 3.5])
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
        ck_sgd_momentum(0, nil, nil, nil, 0.1, 0.9, 0.01)
    }
}
